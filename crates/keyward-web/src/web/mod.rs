//! HTTP: every route (`routes.rs`), who is signed in (`session.rs`; API keys are
//! `crate::api_caller`'s, shared with GraphQL), CSRF and security headers, htmx, the
//! dashboard's views, and handlers that parse input into domain types and call `services/`.

pub mod csrf;
pub mod device_cookie;
pub mod error_pages;
pub mod handlers;
pub mod htmx;
pub mod in_flight;
pub mod logging;
pub mod routes;
pub mod security_headers;
pub mod session;
pub mod session_outage;
pub mod views;

// Below both surfaces (the API-key extractor needs them too); kept here under their old
// paths for the dashboard's modules.
pub use crate::state::AppState;
pub use crate::{client_ip, client_sightings, request_budget, state};
