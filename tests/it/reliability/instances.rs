//! Several instances (filled in below).
