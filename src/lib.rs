//! Keyward: self-hosted, multi-tenant API keys.
//!
//! The request path runs one way: `web` (routes, handlers) or `graphql` (resolvers), both
//! with `api_caller` (who an API key authenticates as) → `services` (rules, permissions,
//! one transaction each) → `db`. `domain` holds the pure types every layer shares.

pub mod api_caller;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod memory;
pub mod services;
pub mod startup;
pub mod telemetry;
pub mod web;
