//! HTTP: every route (`routes.rs`), who is calling (`extractors.rs`), handlers that parse
//! input into domain types and call `services/`.

pub mod client_ip;
pub mod extractors;
pub mod handlers;
pub mod logging;
pub mod routes;
pub mod state;

pub use state::AppState;
