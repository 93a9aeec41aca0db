//! The clients seen using a key — user agent and address, first and last seen — so a
//! key's owner can tell what depends on it before revoking it. At most
//! `MAX_CLIENTS_PER_KEY` per key (a new one replaces the least recently seen).
//!
//! Writes are throttled twice: `ClientSightings` (in memory, per instance) lets a given
//! (key, user agent, address) through at most once a minute, and the key path awaits
//! the write only then; every other request costs one hash-map lookup.

use crate::db::models::api_key_client::KeyClient;
use crate::db::DbConnection;
use crate::domain::ApiKeyId;
use crate::error::AppError;
use crate::services::transaction;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use time::{Duration, PrimitiveDateTime};

pub const MAX_CLIENTS_PER_KEY: usize = 5;
pub const MAX_USER_AGENT_CHARS: usize = 200;
/// A client is written at most this often per instance.
pub const WRITE_EVERY: Duration = Duration::minutes(1);
/// A client whose write was dropped (a busy server) is tried again this much later.
pub const RETRY_DROPPED: Duration = Duration::seconds(5);
/// How many recent sightings one instance remembers; past that, older ones are dropped
/// and, if all are recent, a new client waits for the next minute.
const REMEMBERED: usize = 10_000;

/// A user agent as kept: trimmed, without control characters, at most
/// `MAX_USER_AGENT_CHARS`; "unknown" when the request sent none.
pub fn user_agent(raw: Option<&str>) -> String {
    let cleaned: String = raw
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_USER_AGENT_CHARS)
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        "unknown".to_string()
    } else {
        cleaned.to_string()
    }
}

/// Which (key, client) pairs this instance wrote within the last minute.
#[derive(Debug, Default)]
pub struct ClientSightings {
    written: Mutex<HashMap<u64, PrimitiveDateTime>>,
}

impl ClientSightings {
    /// Whether this sighting should be written now (and remembers that it was).
    pub fn due(&self, key_id: &str, user_agent: &str, ip: &str, now: PrimitiveDateTime) -> bool {
        let id = Self::id(key_id, user_agent, ip);
        let Ok(mut written) = self.written.lock() else {
            return false;
        };
        if written.get(&id).is_some_and(|&at| at > now - WRITE_EVERY) {
            return false;
        }
        if written.len() >= REMEMBERED {
            written.retain(|_, at| *at > now - WRITE_EVERY);
            if written.len() >= REMEMBERED {
                return false;
            }
        }
        written.insert(id, now);
        true
    }

    /// A sighting `due` let through at `at` whose write was then dropped: the client is
    /// due again `RETRY_DROPPED` later instead of a minute later (not at once, so a busy
    /// server is not asked again on every request). Only if nothing newer was let through.
    pub fn dropped(&self, key_id: &str, user_agent: &str, ip: &str, at: PrimitiveDateTime) {
        let id = Self::id(key_id, user_agent, ip);
        if let Ok(mut written) = self.written.lock() {
            if let Some(when) = written.get_mut(&id).filter(|when| **when == at) {
                *when = at - WRITE_EVERY + RETRY_DROPPED;
            }
        }
    }

    fn id(key_id: &str, user_agent: &str, ip: &str) -> u64 {
        let mut hasher = DefaultHasher::new();
        (key_id, user_agent, ip).hash(&mut hasher);
        hasher.finish()
    }
}

/// Records a sighting of a client of a key. Best effort: a busy database, or another
/// instance writing the same client at the same moment, must not turn a valid key away.
pub fn record_client(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    key_id: &ApiKeyId,
    user_agent: &str,
    ip: &str,
) {
    let written = transaction(conn, |conn| {
        if KeyClient::seen(conn, key_id.as_str(), user_agent, ip, now)? == 0 {
            KeyClient {
                api_key_id: key_id.to_string(),
                user_agent: user_agent.to_string(),
                ip: ip.to_string(),
                first_seen_at: now,
                last_seen_at: now,
            }
            .insert(conn)?;
            KeyClient::keep_newest(conn, key_id.as_str(), MAX_CLIENTS_PER_KEY)?;
        }
        Ok(())
    });
    if let Err(e) = written {
        tracing::warn!(error = %e, key_id = %key_id, "could not record a client of the key");
    }
}

/// The clients of these keys, by key id, most recently seen first. Call it only with
/// keys the caller may already see.
pub fn clients_of_keys(
    conn: &mut DbConnection,
    key_ids: &[String],
) -> Result<HashMap<String, Vec<KeyClient>>, AppError> {
    let mut by_key: HashMap<String, Vec<KeyClient>> = HashMap::new();
    for chunk in key_ids.chunks(500) {
        for client in KeyClient::of_keys(conn, chunk)? {
            by_key
                .entry(client.api_key_id.clone())
                .or_default()
                .push(client);
        }
    }
    Ok(by_key)
}

#[cfg(test)]
mod tests {
    use super::{ClientSightings, REMEMBERED, WRITE_EVERY};
    use time::macros::datetime;
    use time::Duration;

    #[test]
    fn a_dropped_sighting_is_due_again_a_few_seconds_later() {
        let sightings = ClientSightings::default();
        let t = datetime!(2026-11-28 12:00:00);
        assert!(sightings.due("k", "curl/8", "10.0.0.1", t));
        sightings.dropped("k", "curl/8", "10.0.0.1", t);
        assert!(!sightings.due("k", "curl/8", "10.0.0.1", t + Duration::seconds(4)));
        assert!(sightings.due("k", "curl/8", "10.0.0.1", t + Duration::seconds(6)));
        assert!(!sightings.due("k", "curl/8", "10.0.0.1", t + Duration::seconds(7)));
        // A drop reported for an older sighting leaves a newer one alone.
        sightings.dropped("k", "curl/8", "10.0.0.1", t);
        assert!(!sightings.due("k", "curl/8", "10.0.0.1", t + Duration::seconds(30)));
    }

    #[test]
    fn a_client_is_due_once_a_minute_and_each_client_on_its_own() {
        let sightings = ClientSightings::default();
        let t = datetime!(2026-11-28 12:00:00);
        assert!(sightings.due("k", "curl/8", "10.0.0.1", t));
        assert!(!sightings.due("k", "curl/8", "10.0.0.1", t + Duration::seconds(59)));
        assert!(sightings.due("k", "curl/8", "10.0.0.2", t + Duration::seconds(1)));
        assert!(sightings.due("k2", "curl/8", "10.0.0.1", t + Duration::seconds(1)));
        assert!(sightings.due(
            "k",
            "curl/8",
            "10.0.0.1",
            t + WRITE_EVERY + Duration::seconds(1)
        ));
    }

    #[test]
    fn the_memory_stays_bounded_when_every_request_is_a_new_client() {
        let sightings = ClientSightings::default();
        let t = datetime!(2026-11-28 12:00:00);
        for i in 0..REMEMBERED {
            assert!(sightings.due("k", &format!("ua-{i}"), "", t));
        }
        // Full of recent sightings: a new client waits rather than growing the map.
        assert!(!sightings.due("k", "one-more", "", t));
        assert_eq!(sightings.written.lock().unwrap().len(), REMEMBERED);
        // A minute later the old ones make room.
        assert!(sightings.due("k", "one-more", "", t + WRITE_EVERY + Duration::seconds(1)));
        assert_eq!(sightings.written.lock().unwrap().len(), 1);
    }
}
