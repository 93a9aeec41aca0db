//! argon2id password hashing with the crate's defaults (m=19 MiB, t=2, p=1: OWASP's
//! recommendation). Slow on purpose: call inside `web::block`, outside transactions.
//!
//! Anonymous work (a sign-in) goes through `verify_bounded`: at most half the cores hash
//! at once in the whole process, so key checks always keep a core; a request waiting for
//! its turn holds no thread and no database connection, and when `MAX_WAITING` already
//! wait the sign-in is refused at once (429) instead of queueing without bound.

use crate::domain::Password;
use crate::error::AppError;
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use tokio::sync::Semaphore;

/// How many sign-ins may wait for a turn to hash before more are refused.
pub const MAX_WAITING: usize = 64;

/// How many hashes may run at once: half the cores, at least one.
pub fn max_concurrent_hashes() -> usize {
    (std::thread::available_parallelism().map_or(1, |n| n.get()) / 2).max(1)
}

static TURNS: OnceLock<Semaphore> = OnceLock::new();
static WAITING: AtomicUsize = AtomicUsize::new(0);

/// `verify_password` off the executor, taking a turn among the bounded hashers.
pub async fn verify_bounded(hash: String, password: Password) -> Result<bool, AppError> {
    let turns = TURNS.get_or_init(|| Semaphore::new(max_concurrent_hashes()));
    if WAITING.fetch_add(1, Ordering::AcqRel) >= MAX_WAITING {
        WAITING.fetch_sub(1, Ordering::AcqRel);
        return Err(AppError::TooManyRequests(
            "too many sign-ins are being checked right now; try again in a moment".into(),
        ));
    }
    let turn = turns.acquire().await;
    WAITING.fetch_sub(1, Ordering::AcqRel);
    let _turn = turn.map_err(|_| AppError::internal("the password hashers are closed"))?;
    Ok(actix_web::web::block(move || verify_password(&hash, &password)).await?)
}

pub fn hash_password(password: &Password) -> Result<String, AppError> {
    Argon2::default()
        .hash_password(password.expose().as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AppError::internal(format!("hashing a password failed: {e}")))
}

pub fn verify_password(hash: &str, password: &Password) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash of a random password, verified against when the email is unknown, so unknown
/// emails take as long as wrong passwords.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let random = crate::domain::api_key::random_secret(32);
        hash_password(&Password::offered(&random)).unwrap_or_default()
    })
}
