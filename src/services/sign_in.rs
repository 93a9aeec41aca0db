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

pub const WRONG_CREDENTIALS: &str = "the email or the password is not right";

/// A sign-in whose attempt is recorded and whose password is still to be checked,
/// outside any transaction and without a database connection (see `passwords`).
pub struct PendingSignIn {
    email: String,
    ip: String,
    account: Option<Account>,
    /// The stored hash, or the decoy's for an unknown email (same work, same answer).
    pub hash: String,
}

/// Verifies the credentials, all on one connection. Blocking (argon2): call inside
/// `web::block`, outside any transaction. `ip` is the client address as the server
/// believes it. The server itself uses `begin` and `finish` around
/// `passwords::verify_bounded`, which holds no connection while it hashes.
pub fn sign_in(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    email: &str,
    password: &Password,
    ip: &str,
) -> Result<Account, AppError> {
    let pending = begin(conn, now, email, ip)?;
    let verified = verify_password(&pending.hash, password);
    finish(conn, now, pending, verified)
}

/// Refuses a locked email and address, records the attempt as a failure and finds the
/// account.
pub fn begin(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    email: &str,
    ip: &str,
) -> Result<PendingSignIn, AppError> {
    let email = email.trim().to_lowercase();
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
        .and_then(|a| a.password_hash.clone())
        .unwrap_or_else(|| decoy_hash().to_string());
    Ok(PendingSignIn {
        email,
        ip: ip.to_string(),
        account,
        hash,
    })
}

/// The account when the password was right; the recorded failure stays otherwise.
pub fn finish(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    pending: PendingSignIn,
    verified: bool,
) -> Result<Account, AppError> {
    let PendingSignIn {
        email, ip, account, ..
    } = pending;
    match account {
        Some(account) if verified && account.password_hash.is_some() => {
            SignInFailure::clear(conn, &email, &ip)?;
            // Housekeeping, on the rare successful path: what no longer counts goes.
            SignInFailure::delete_before(conn, now - WINDOW - LOCKOUT)?;
            sessions::end_timed_out(conn, now)?;
            Ok(account)
        }
        // The attempt recorded in `begin` stays: it was a failure.
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
