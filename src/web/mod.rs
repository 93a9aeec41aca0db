//! HTTP: every route (`routes.rs`), who is calling (`extractors.rs` for API keys,
//! `session.rs` for signed-in people), CSRF and security headers, htmx, the dashboard's
//! views, and handlers that parse input into domain types and call `services/`.

pub mod client_ip;
pub mod csrf;
pub mod extractors;
pub mod handlers;
pub mod htmx;
pub mod logging;
pub mod routes;
pub mod security_headers;
pub mod session;
pub mod session_outage;
pub mod state;
pub mod views;

pub use state::AppState;
