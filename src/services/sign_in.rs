//! Signing in with email and password, throttled per email and client IP: after
//! `MAX_FAILURES` failures within `WINDOW`, attempts are refused for `LOCKOUT` after the
//! last failure. Failures live in the database, so every instance counts the same.
//! Unknown emails get the same answer as wrong passwords, after the same argon2 work.

use crate::db::models::sign_in::SignInFailure;
use crate::db::models::Account;
use crate::db::DbConnection;
use crate::domain::{new_id, Password};
use crate::error::AppError;
use crate::services::passwords::{decoy_hash, verify_password};
use crate::services::sessions;
use time::{Duration, PrimitiveDateTime};

pub const MAX_FAILURES: i64 = 5;
pub const WINDOW: Duration = Duration::minutes(15);
pub const LOCKOUT: Duration = Duration::minutes(15);

/// Longer than any address an account can have (RFC 5321 allows 254).
const MAX_EMAIL_BYTES: usize = 320;

pub const WRONG_CREDENTIALS: &str = "the email or the password is not right";

/// Verifies the credentials. Blocking (argon2): call inside `web::block`, outside any
/// transaction. `ip` is the client address as the server believes it.
pub fn sign_in(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    email: &str,
    password: &Password,
    ip: &str,
) -> Result<Account, AppError> {
    let email = email.trim().to_lowercase();
    // No account can have such an address, and PostgreSQL refuses a NUL in text: answer
    // as for any wrong address, and store nothing (an 80 KB "email" is not worth a row).
    if email.len() > MAX_EMAIL_BYTES || email.chars().any(char::is_control) {
        return Err(AppError::unauthenticated(WRONG_CREDENTIALS));
    }
    if let Some(until) = locked_until(conn, &email, ip)?.filter(|&until| now < until) {
        return Err(too_many(until, now));
    }
    // The attempt counts as a failure before the slow check, so attempts racing each
    // other see one another: at most MAX_FAILURES of them get to verify a password.
    let attempt = SignInFailure {
        id: new_id(),
        email: email.clone(),
        ip: ip.to_string(),
        at: now,
    };
    attempt.insert(conn)?;
    if SignInFailure::count_since(conn, &email, ip, now - WINDOW)? > MAX_FAILURES {
        SignInFailure::delete(conn, &attempt.id)?;
        let until = locked_until(conn, &email, ip)?.unwrap_or(now + LOCKOUT);
        return Err(too_many(until, now));
    }
    let account = if email.is_empty() {
        None
    } else {
        Account::find_by_email(conn, &email)?
    };
    let hash = account
        .as_ref()
        .and_then(|a| a.password_hash.as_deref())
        .unwrap_or_else(|| decoy_hash());
    let verified = verify_password(hash, password);
    match account {
        Some(account) if verified && account.password_hash.is_some() => {
            SignInFailure::clear(conn, &email, ip)?;
            // Housekeeping, on the rare successful path: what no longer counts goes.
            SignInFailure::delete_before(conn, now - WINDOW - LOCKOUT)?;
            sessions::end_timed_out(conn, now)?;
            Ok(account)
        }
        // The attempt recorded above stays: it was a failure.
        _ => Err(AppError::unauthenticated(WRONG_CREDENTIALS)),
    }
}

fn too_many(until: PrimitiveDateTime, now: PrimitiveDateTime) -> AppError {
    let minutes = ((until - now).whole_seconds() + 59) / 60;
    AppError::TooManyRequests(format!(
        "too many failed sign-ins for this email from your address; try again in {minutes} minute{}",
        if minutes == 1 { "" } else { "s" }
    ))
}

/// When the lock on this email and IP lifts, if `MAX_FAILURES` failures fell within
/// `WINDOW` of each other.
fn locked_until(
    conn: &mut DbConnection,
    email: &str,
    ip: &str,
) -> Result<Option<PrimitiveDateTime>, AppError> {
    let recent = SignInFailure::latest(conn, email, ip, MAX_FAILURES)?;
    Ok(match (recent.first(), recent.last()) {
        (Some(&newest), Some(&oldest))
            if recent.len() as i64 == MAX_FAILURES && newest - oldest <= WINDOW =>
        {
            Some(newest + LOCKOUT)
        }
        _ => None,
    })
}
