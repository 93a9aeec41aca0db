//! Keyward: self-hosted, multi-tenant API keys.
//!
//! The request path runs one way: `web` (routes, extractors, handlers) or `graphql`
//! (resolvers) → `services` (rules, permissions, one transaction each) → `db`. `domain`
//! holds the pure types every layer shares.

pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod services;
pub mod startup;
pub mod telemetry;
pub mod web;
