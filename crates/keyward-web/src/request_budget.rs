//! What one GraphQL request may take: `statement_limit::BUDGET` of time (the request is
//! stopped at its next await after that, and its statements by the database), and one of
//! `MAX_RUNNING_PER_KEY` places for its key on this instance. Requests without a key pass
//! the cost check and the time budget but no per-key count.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// GraphQL requests one key may have running at once on one instance; more answer 429.
pub const MAX_RUNNING_PER_KEY: usize = 2;

/// How many GraphQL requests each key has running.
#[derive(Default)]
pub struct RunningPerKey {
    running: Mutex<HashMap<String, usize>>,
}

/// A key's place among its running requests, given back when dropped (whether the
/// request answered, timed out or its client went away).
pub struct Running {
    of: Arc<RunningPerKey>,
    key_id: String,
}

impl RunningPerKey {
    /// A place for `key_id`, or `None` when it already has `MAX_RUNNING_PER_KEY`.
    pub fn start(self: &Arc<Self>, key_id: &str) -> Option<Running> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let count = running.entry(key_id.to_string()).or_insert(0);
        if *count >= MAX_RUNNING_PER_KEY {
            return None;
        }
        *count += 1;
        Some(Running {
            of: Arc::clone(self),
            key_id: key_id.to_string(),
        })
    }

    /// How many requests `key_id` has running.
    pub fn count(&self, key_id: &str) -> usize {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.get(key_id).copied().unwrap_or(0)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut running = self.of.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = running.get_mut(&self.key_id) {
            *count -= 1;
            if *count == 0 {
                running.remove(&self.key_id);
            }
        }
    }
}

/// A rate in items per minute with a burst of as many (a token bucket), per instance:
/// the GitLab Token Revocation API takes at most `per_minute` reported keys a minute
/// from each of its tokens (`PerToken`, `web::handlers::secret_scanning`).
pub struct PerMinute {
    per_minute: f64,
    state: Mutex<(f64, std::time::Instant)>,
}

impl PerMinute {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute: f64::from(per_minute),
            state: Mutex::new((f64::from(per_minute), std::time::Instant::now())),
        }
    }

    /// Takes `n` items now, or says how long to wait until there would be room (and takes
    /// nothing). More than a minute's worth is never granted.
    pub fn take(&self, n: usize) -> Result<(), std::time::Duration> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        let (available, since) = *state;
        let refilled = (available
            + now.duration_since(since).as_secs_f64() * self.per_minute / 60.0)
            .min(self.per_minute);
        let wanted = n as f64;
        if wanted <= refilled {
            *state = (refilled - wanted, now);
            return Ok(());
        }
        *state = (refilled, now);
        let missing = (wanted.min(self.per_minute) - refilled).max(0.0);
        Err(std::time::Duration::from_secs_f64(
            (missing * 60.0 / self.per_minute).max(1.0),
        ))
    }
}

impl Default for PerMinute {
    fn default() -> Self {
        Self::new(REPORTED_KEYS_PER_MINUTE)
    }
}

/// Keys the GitLab Token Revocation API takes per minute from one of its tokens on one
/// instance.
pub const REPORTED_KEYS_PER_MINUTE: u32 = 1000;

/// A `PerMinute` rate for each revocation API token (keyed by the token's digest), so
/// that a CI holding one token cannot use up GitLab's. Only tokens that matched a
/// configured one get a rate, so there are at most as many as are configured.
pub struct PerToken {
    per_minute: u32,
    rates: Mutex<HashMap<[u8; 32], Arc<PerMinute>>>,
}

impl PerToken {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            rates: Mutex::default(),
        }
    }

    /// `PerMinute::take` on the rate of the token whose digest is `token`.
    pub fn take(&self, token: &[u8; 32], n: usize) -> Result<(), std::time::Duration> {
        let rate = {
            let mut rates = self.rates.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(
                rates
                    .entry(*token)
                    .or_insert_with(|| Arc::new(PerMinute::new(self.per_minute))),
            )
        };
        rate.take(n)
    }
}

impl Default for PerToken {
    fn default() -> Self {
        Self::new(REPORTED_KEYS_PER_MINUTE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_grants_its_burst_then_says_how_long_to_wait() {
        let rate = PerMinute::new(10);
        assert!(rate.take(6).is_ok());
        assert!(rate.take(4).is_ok());
        let wait = rate.take(3).unwrap_err();
        assert!(wait >= std::time::Duration::from_secs(1), "{wait:?}");
        assert!(
            rate.take(11).is_err(),
            "more than a minute's worth is never granted"
        );
    }

    #[test]
    fn each_token_has_its_own_rate() {
        let rates = PerToken::new(10);
        let (a, b) = ([1; 32], [2; 32]);
        assert!(rates.take(&a, 10).is_ok());
        assert!(rates.take(&a, 1).is_err());
        assert!(rates.take(&b, 10).is_ok(), "b is not held back by a");
    }

    #[test]
    fn a_third_request_of_a_key_waits_for_a_place_and_others_do_not() {
        let running = Arc::new(RunningPerKey::default());
        let first = running.start("k").expect("a first place");
        let _second = running.start("k").expect("a second place");
        assert!(running.start("k").is_none());
        assert!(running.start("other").is_some());
        drop(first);
        assert!(running.start("k").is_some());
        assert_eq!(
            running.count("other"),
            0,
            "places are given back when dropped"
        );
    }
}
