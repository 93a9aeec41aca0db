//! The key path's hook for "clients seen per key" (`services::key_clients`): one
//! in-memory check per request, and a write only when the client was not written within
//! the minute.

use crate::error::AppError;
use crate::services::{key_clients, Principal};
use crate::web::AppState;
use actix_web::http::header::USER_AGENT;
use actix_web::HttpRequest;

pub async fn note_client(
    req: &HttpRequest,
    state: &AppState,
    principal: &Principal,
    ip: Option<&str>,
) -> Result<(), AppError> {
    let user_agent =
        key_clients::user_agent(req.headers().get(USER_AGENT).and_then(|v| v.to_str().ok()));
    let ip = ip.unwrap_or("").to_string();
    let key_id = principal.key_id().to_string();
    let now = state.clock.now();
    if !state.client_sightings.due(&key_id, &user_agent, &ip, now) {
        return Ok(());
    }
    state
        .run(move |conn, now| {
            key_clients::record_client(conn, now, &key_id, &user_agent, &ip);
            Ok(())
        })
        .await
}
