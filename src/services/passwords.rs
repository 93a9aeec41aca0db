//! argon2id password hashing with the crate's defaults (m=19 MiB, t=2, p=1: OWASP's
//! recommendation). Slow on purpose: call inside `web::block`, outside transactions.

use crate::domain::Password;
use crate::error::AppError;
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};

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
