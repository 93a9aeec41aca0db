//! Keyward: self-hosted, multi-tenant API keys.
//!
//! The layers are crates (docs/ARCHITECTURE.md): `keyward-domain` (pure types) →
//! `keyward-core` (`db`, `services`, `config`, `telemetry`, the error) → `keyward-web`
//! (`web`, `graphql`, `api_caller`, `startup`); `keyward-client` is the terminal client.
//! This package is the `keyward` binary and its operator commands (`cli`); its library
//! re-exports the layers under their old paths for the tests and benchmarks.

pub use keyward_core::{config, db, services, telemetry};
pub use keyward_domain as domain;
pub use keyward_web::{api_caller, error, graphql, startup, web};

pub mod cli;
