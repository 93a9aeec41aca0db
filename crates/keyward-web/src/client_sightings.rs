//! The key path's hook for "clients seen per key" (`services::key_clients`): one
//! in-memory check per request, and a write only when the client was not written within
//! the minute (or a few seconds after its write was dropped).

use crate::services::{key_clients, Principal};
use crate::state::AppState;
use actix_web::http::header::USER_AGENT;
use actix_web::HttpRequest;

/// Records the client in the background when it is due (`AppState::spawn_bookkeeping`).
pub fn note_client(req: &HttpRequest, state: &AppState, principal: &Principal, ip: Option<&str>) {
    let raw_user_agent = req.headers().get(USER_AGENT).and_then(|v| v.to_str().ok());
    let ip = ip.unwrap_or("");
    let now = state.clock.now();
    // Nothing is allocated unless this client is due a write.
    if !state.client_sightings.due(
        principal.key_id().as_str(),
        raw_user_agent.unwrap_or(""),
        ip,
        now,
    ) {
        return;
    }
    let (user_agent, ip) = (key_clients::user_agent(raw_user_agent), ip.to_string());
    let key_id = principal.key_id().clone();
    // A dropped write is tried again by the client's requests a few seconds on.
    let dropped = {
        let (sightings, key_id) = (state.client_sightings.clone(), key_id.clone());
        let (raw_user_agent, ip) = (raw_user_agent.unwrap_or("").to_string(), ip.clone());
        move || sightings.dropped(key_id.as_str(), &raw_user_agent, &ip, now)
    };
    state.spawn_bookkeeping_or(
        move |conn, now| key_clients::record_client(conn, now, &key_id, &user_agent, &ip),
        dropped,
    );
}
