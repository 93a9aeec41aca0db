//! Signing in with email and password, throttled twice: per email and client address
//! (`MAX_FAILURES` failures within `WINDOW` lock that pair for `LOCKOUT` after the last
//! one), and per address whatever the email (`MAX_ADDRESS_FAILURES` within `WINDOW`), so
//! random emails cannot buy unlimited password checks. Failures live in the database,
//! keyed on the SHA-256 of the normalised email, so every instance counts the same and the
//! table holds no email. Unknown emails get the same answer as wrong passwords, after the
//! same argon2 work. A wrong current password at a password change counts the same way
//! (`begin_attempt`).
//!
//! Sign-ins and failed sign-ins of an existing account are audited in every tenant the
//! account is a member of (a tenant's admins see who got into their tenant's keys, as
//! GitLab's audit events show sign-ins). An unknown email is audited nowhere: it has no
//! tenant, and `sign_in_failures` (bounded) already counts it.

use crate::db::models::sign_in::{FailureScope, SignInFailure};
use crate::db::models::{Account, Membership};
use crate::db::DbConnection;
use crate::domain::{new_id, Password, TokenDigest};
use crate::error::AppError;
use crate::services::audit::{self, Event};
use crate::services::passwords::{decoy_hash, verify_password};
use crate::services::{sessions, transaction, Actor};
use time::{Duration, PrimitiveDateTime};

pub const MAX_FAILURES: i64 = 5;
/// Failures from one address, whatever the emails, before it is locked out too.
pub const MAX_ADDRESS_FAILURES: i64 = 20;
pub const WINDOW: Duration = Duration::minutes(15);
pub const LOCKOUT: Duration = Duration::minutes(15);
/// RFC 5321's limit on a whole address; longer ones are refused before any storage.
pub const MAX_EMAIL_LEN: usize = 254;

pub const WRONG_CREDENTIALS: &str = "the email or the password is not right";

/// The normalised email: what accounts store and what failures are keyed on (digested).
/// Refuses, without touching the database, an email longer than `MAX_EMAIL_LEN`.
pub fn normalise_email(email: &str) -> Result<String, AppError> {
    let email = email.trim();
    if email.len() > MAX_EMAIL_LEN {
        return Err(AppError::invalid(
            "email",
            format!("an email address has at most {MAX_EMAIL_LEN} characters"),
        ));
    }
    Ok(email.to_lowercase())
}

/// A password check counted before it runs (see `begin_attempt`).
#[derive(Debug)]
pub struct Attempt {
    email_digest: String,
    ip: String,
}

impl Attempt {
    /// The password was right: this email's failures from this address are forgotten.
    pub fn succeeded(self, conn: &mut DbConnection) -> Result<(), AppError> {
        SignInFailure::clear(conn, &self.email_digest, &self.ip)?;
        Ok(())
    }
}

/// Refuses when the email (from this address) or the address is locked; otherwise records
/// the attempt as a failure *before* the slow check, so attempts racing each other see one
/// another: at most `MAX_FAILURES` of them get to verify a password. The row stays unless
/// the caller reports success.
pub fn begin_attempt(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    normalised_email: &str,
    ip: &str,
) -> Result<Attempt, AppError> {
    let email_digest = TokenDigest::of(normalised_email).into_inner();
    let pair = FailureScope::EmailAndAddress {
        email_digest: &email_digest,
        ip,
    };
    let address = FailureScope::Address { ip };
    let limits = [(pair, MAX_FAILURES), (address, MAX_ADDRESS_FAILURES)];
    for (scope, max) in limits {
        if let Some(until) = locked_until(conn, scope, max)?.filter(|&until| now < until) {
            return Err(too_many(scope, until, now));
        }
    }
    let attempt = SignInFailure {
        id: new_id(),
        email_digest: email_digest.clone(),
        ip: ip.to_string(),
        at: now,
    };
    attempt.insert(conn)?;
    for (scope, max) in limits {
        // A refused racer's row stays: deleting it could let racers that all counted too
        // many leave fewer than `max` rows behind, and so no lock.
        if SignInFailure::count_since(conn, scope, now - WINDOW)? > max {
            let until = locked_until(conn, scope, max)?.unwrap_or(now + LOCKOUT);
            return Err(too_many(scope, until, now));
        }
    }
    Ok(Attempt {
        email_digest,
        ip: ip.to_string(),
    })
}

/// A sign-in whose attempt is recorded and whose password is still to be checked,
/// outside any transaction and without a database connection (see `passwords`).
pub struct PendingSignIn {
    attempt: Attempt,
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
    let email = normalise_email(email)?;
    // No account can have such an address, and PostgreSQL refuses a NUL in text: answer
    // as for any wrong address, and store nothing.
    if email.chars().any(char::is_control) {
        crate::telemetry::metrics::sign_in_failed();
        return Err(AppError::unauthenticated(WRONG_CREDENTIALS));
    }
    let attempt = begin_attempt(conn, now, &email, ip)?;
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
        attempt,
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
        attempt, account, ..
    } = pending;
    match account {
        Some(account) if verified && account.password_hash.is_some() => {
            audit_in_every_tenant(
                conn,
                now,
                &account,
                &attempt.ip,
                "sign_in.succeeded",
                || "signed in with a password".into(),
            )?;
            attempt.succeeded(conn)?;
            // Housekeeping, on the rare successful path: what no longer counts goes.
            SignInFailure::delete_before(conn, now - WINDOW - LOCKOUT)?;
            sessions::end_timed_out(conn, now)?;
            Ok(account)
        }
        // The attempt recorded above stays: it was a failure.
        account => {
            if let Some(account) = account {
                let pair = FailureScope::EmailAndAddress {
                    email_digest: &attempt.email_digest,
                    ip: &attempt.ip,
                };
                let locked = locked_until(conn, pair, MAX_FAILURES)?.is_some_and(|t| now < t);
                audit_in_every_tenant(conn, now, &account, &attempt.ip, "sign_in.failed", || {
                    if locked {
                        format!(
                            "wrong password, {MAX_FAILURES} within {} minutes from this address: locked for {} minutes",
                            WINDOW.whole_minutes(),
                            LOCKOUT.whole_minutes()
                        )
                    } else {
                        "wrong password".into()
                    }
                })?;
            }
            crate::telemetry::metrics::sign_in_failed();
            Err(AppError::unauthenticated(WRONG_CREDENTIALS))
        }
    }
}

/// One event in each tenant the account is a member of, as done by that account from
/// `ip`; never anything about the password but whether it was right.
fn audit_in_every_tenant(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    account: &Account,
    ip: &str,
    action: &'static str,
    detail: impl Fn() -> String,
) -> Result<(), AppError> {
    let actor = Actor::person(account.id.clone(), Some(ip.to_string()));
    transaction(conn, |conn| {
        for (tenant, _) in Membership::tenants_of(conn, &account.id)? {
            let event = Event {
                tenant_id: Some(&tenant.id),
                action,
                target_id: Some(&account.id),
                detail: detail(),
            };
            audit::record(conn, &actor, now, event)?;
        }
        Ok(())
    })
}

fn too_many(scope: FailureScope<'_>, until: PrimitiveDateTime, now: PrimitiveDateTime) -> AppError {
    crate::telemetry::metrics::sign_in_failed();
    let minutes = ((until - now).whole_seconds() + 59) / 60;
    let what = match scope {
        FailureScope::EmailAndAddress { .. } => "for this email from your address",
        FailureScope::Address { .. } => "from your address",
    };
    AppError::TooManyRequests(format!(
        "too many failed sign-ins {what}; try again in {minutes} minute{}",
        if minutes == 1 { "" } else { "s" }
    ))
}

/// When the lock on this scope lifts, if its last `max` failures fell within `WINDOW` of
/// each other.
fn locked_until(
    conn: &mut DbConnection,
    scope: FailureScope<'_>,
    max: i64,
) -> Result<Option<PrimitiveDateTime>, AppError> {
    let recent = SignInFailure::latest(conn, scope, max)?;
    Ok(match (recent.first(), recent.last()) {
        (Some(&newest), Some(&oldest))
            if recent.len() as i64 == max && newest - oldest <= WINDOW =>
        {
            Some(newest + LOCKOUT)
        }
        _ => None,
    })
}
