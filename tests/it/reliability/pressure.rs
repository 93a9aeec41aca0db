//! SQLite under pressure (filled in below).
