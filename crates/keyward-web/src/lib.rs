//! Keyward's surfaces: the dashboard and `/api` (`web`), GraphQL (`graphql`), who an API
//! key authenticates as for both (`api_caller`), and the server (`startup`). They parse
//! input into domain types and ask `services`; each maps the core's error to its answer
//! once (`error`).

/// The layers below under their old paths, so `crate::db::…`, `crate::services::…` and
/// `crate::domain::…` read as they did before the split.
pub use keyward_core::{config, db, services, telemetry};
pub use keyward_domain as domain;

pub mod api_caller;
pub mod client_ip;
pub mod client_sightings;
pub mod error;
pub mod graphql;
pub mod request_budget;
pub mod startup;
pub mod state;
pub mod web;
