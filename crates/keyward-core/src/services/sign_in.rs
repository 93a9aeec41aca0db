//! Signing in with email and password, within the guessing limits of `guess_limits`:
//! per account (clients without a device cookie share `MAX_ACCOUNT` wrong passwords per
//! `WINDOW`; a browser that signed in before has its own `MAX_DEVICE`), per account and
//! address group, and per address group whatever the email, so random emails cannot buy
//! unlimited password checks either. Unknown emails get the same answers as wrong
//! passwords, after the same argon2 work, and are limited alike. A wrong current password
//! at a password change counts the same way (`begin_attempt`).
//!
//! Sign-ins and failed sign-ins of an existing account are audited in every tenant the
//! account is a member of (a tenant's admins see who got into their tenant's keys, as
//! GitLab's audit events show sign-ins), and so is the first refusal of each lock on it.
//! An unknown email is audited nowhere: it has no tenant, and `sign_in_failures`
//! (bounded) already counts it.

use crate::db::models::oidc::TenantSsoRequirement;
use crate::db::models::two_factor::TwoFactorRow;
use crate::db::models::{Account, Membership};
use crate::db::DbConnection;
use crate::domain::AuditAction;
use crate::domain::Password;
use crate::error::AppError;
use crate::services::audit::{self, Event};
use crate::services::guess_limits::{self, Guess, KnownDevice, Limit, Purpose, Refusal};
use crate::services::passwords::{decoy_hash, verify_password};
use crate::services::{sessions, transaction, Actor};
use time::PrimitiveDateTime;

pub use crate::services::guess_limits::{LOCKOUT, WINDOW};

/// Wrong passwords for one email from one address group before that pair is locked.
pub const MAX_FAILURES: i64 = guess_limits::MAX_PAIR;
/// Failures from one address group, whatever the emails, before it is locked out too.
pub const MAX_ADDRESS_FAILURES: i64 = guess_limits::MAX_ADDRESS;
/// RFC 5321's limit on a whole address; longer ones are refused before any storage.
pub const MAX_EMAIL_LEN: usize = 254;

pub const WRONG_CREDENTIALS: &str = "the email or the password is not right";

/// What a right password is for: a session, or proving once that an identity at the
/// OpenID provider is the account's (`oidc::confirm_link`), which a tenant that requires
/// single sign-on still allows: the session it opens is the provider's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordUse {
    SignIn,
    LinkProvider,
}

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
    guess: Guess,
    ip: String,
}

impl Attempt {
    /// An attempt counted by `guess_limits::begin` (the two-factor code step's too).
    pub(crate) fn new(guess: Guess, ip: &str) -> Self {
        Self {
            guess,
            ip: ip.to_string(),
        }
    }

    /// The limit this failed attempt just locked, if any.
    pub(crate) fn locked_by(
        &self,
        conn: &mut DbConnection,
        now: PrimitiveDateTime,
    ) -> Result<Option<Limit>, AppError> {
        guess_limits::locked_by(conn, now, &self.guess)
    }

    /// The password was right: this client's failures are forgotten (never the account's).
    pub fn succeeded(self, conn: &mut DbConnection) -> Result<(), AppError> {
        self.guess.succeeded(conn)
    }
}

/// Refuses when a limit is reached for this email, address or device; otherwise records
/// the attempt as a failure *before* the slow check, so attempts racing each other see
/// one another. The row stays unless the caller reports success. `account` is the
/// account the email names, if any (for its device cookie and the refusal's audit).
pub fn begin_attempt(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    normalised_email: &str,
    account: Option<&Account>,
    ip: &str,
    device: Option<&KnownDevice>,
) -> Result<Attempt, AppError> {
    let account_id = account.map(|a| a.id.as_str());
    // A cookie from before the account's last password change counts for nothing.
    let device = device
        .filter(|d| account.is_some_and(|a| d.is_current_for(&a.id, a.password_hash.as_deref())));
    match guess_limits::begin(
        conn,
        now,
        Purpose::Password,
        normalised_email,
        account_id,
        ip,
        device,
    )? {
        Ok(guess) => Ok(Attempt {
            guess,
            ip: ip.to_string(),
        }),
        Err(refusal) => {
            if let Some(account) = account.filter(|_| refusal.audit_due) {
                audit_refusal(conn, now, account, ip, &refusal)?;
            }
            Err(too_many(&refusal, now))
        }
    }
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
    let pending = begin(conn, now, email, ip, None)?;
    let verified = verify_password(&pending.hash, password);
    finish(conn, now, pending, verified, PasswordUse::SignIn)
}

/// Finds the account, refuses a locked email, address or device, and records the attempt
/// as a failure. `device` is what the browser's device cookie says, if it has one.
pub fn begin(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    email: &str,
    ip: &str,
    device: Option<&KnownDevice>,
) -> Result<PendingSignIn, AppError> {
    let email = normalise_email(email)?;
    // No account can have such an address, and PostgreSQL refuses a NUL in text: answer
    // as for any wrong address, and store nothing.
    if email.chars().any(char::is_control) {
        crate::telemetry::metrics::sign_in_failed();
        return Err(AppError::unauthenticated(WRONG_CREDENTIALS));
    }
    let account = if email.is_empty() {
        None
    } else {
        Account::find_by_email(conn, &email)?
    };
    let attempt = begin_attempt(conn, now, &email, account.as_ref(), ip, device)?;
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

/// The account when the password was right; the recorded failure stays otherwise. A
/// person all of whose tenants require single sign-on is refused a password sign-in after
/// the password is checked: the refusal tells only someone who knows the password that
/// it is right (as the two-factor code step does), and every guess before it counts.
pub fn finish(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    pending: PendingSignIn,
    verified: bool,
    purpose: PasswordUse,
) -> Result<Account, AppError> {
    let PendingSignIn {
        attempt, account, ..
    } = pending;
    match account {
        Some(account) if verified && account.password_hash.is_some() => {
            if purpose == PasswordUse::SignIn {
                // Only when no tenant of theirs is left to work in with a password: the
                // others still open (`permissions::access` keeps the requiring ones shut).
                if let Some(tenant) = TenantSsoRequirement::every_of_member(conn, &account.id)? {
                    audit_in_every_tenant(
                        conn,
                        now,
                        &account,
                        &attempt.ip,
                        AuditAction::SignInFailed,
                        || format!("password right, but {tenant} requires single sign-on"),
                    )?;
                    attempt.succeeded(conn)?;
                    return Err(AppError::forbidden(sso_required_message(&tenant)));
                }
            }
            // With two-factor on, the password only opens the code step (`two_factor`).
            let two_factor = TwoFactorRow::is_enabled(conn, &account.id)?;
            let audited = match (purpose, two_factor) {
                (PasswordUse::SignIn, true) => Some((
                    AuditAction::SignInCodeRequired,
                    "password right; a two-factor code is asked for",
                )),
                (PasswordUse::SignIn, false) => {
                    Some((AuditAction::SignInSucceeded, "signed in with a password"))
                }
                (PasswordUse::LinkProvider, true) => Some((
                    AuditAction::SignInCodeRequired,
                    "password right, to link the identity provider; a two-factor code is asked for",
                )),
                // No session of its own: `oidc::confirm_link` audits the link it makes.
                (PasswordUse::LinkProvider, false) => None,
            };
            if let Some((action, detail)) = audited {
                audit_in_every_tenant(conn, now, &account, &attempt.ip, action, || detail.into())?;
            }
            attempt.succeeded(conn)?;
            // Housekeeping, on the rare successful path: what no longer counts goes.
            guess_limits::sweep(conn, now)?;
            sessions::end_timed_out(conn, now)?;
            Ok(account)
        }
        // The attempt recorded above stays: it was a failure.
        account => {
            // Read for unknown emails too: the same queries, known account or not.
            let locked = guess_limits::locked_by(conn, now, &attempt.guess)?;
            if let Some(account) = account {
                audit_in_every_tenant(
                    conn,
                    now,
                    &account,
                    &attempt.ip,
                    AuditAction::SignInFailed,
                    || match locked {
                        Some(limit) => format!(
                            "wrong password, {}: locked for {} minutes",
                            limit_reached(limit),
                            LOCKOUT.whole_minutes()
                        ),
                        None => "wrong password".into(),
                    },
                )?;
            }
            crate::telemetry::metrics::sign_in_failed();
            Err(AppError::unauthenticated(WRONG_CREDENTIALS))
        }
    }
}

/// Why a member of a tenant that requires single sign-on cannot use a password.
pub fn sso_required_message(tenant: &str) -> String {
    format!("{tenant} requires single sign-on: your password no longer signs you in here. Sign in through your team's identity provider instead (its \"Sign in with …\" button on the sign-in page); if the page shows no such button, single sign-on is not set up on this Keyward just now: ask its operator (`keyward admin stop-requiring-sso` lifts the requirement) or an admin of {tenant}")
}

/// What a limit counted, for the audit log.
fn limit_reached(limit: Limit) -> String {
    let minutes = WINDOW.whole_minutes();
    match limit {
        Limit::Account => format!(
            "{} within {minutes} minutes from new browsers and devices (those that signed in before keep their own allowance)",
            guess_limits::MAX_ACCOUNT
        ),
        Limit::AccountFromAddress => {
            format!("{MAX_FAILURES} within {minutes} minutes from this address")
        }
        Limit::Device => format!(
            "{} within {minutes} minutes from this browser, which had signed in before",
            guess_limits::MAX_DEVICE
        ),
        Limit::Address => format!(
            "{MAX_ADDRESS_FAILURES} failures within {minutes} minutes from this address"
        ),
    }
}

/// The first refused attempt of a lock on this account, audited in each of its tenants.
fn audit_refusal(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    account: &Account,
    ip: &str,
    refusal: &Refusal,
) -> Result<(), AppError> {
    let why = limit_reached(refusal.limit);
    let minutes = refusal.minutes_left(now);
    audit_in_every_tenant(conn, now, account, ip, AuditAction::SignInRefused, || {
        format!(
            "sign-in refused without checking the password: wrong passwords, {why}; refused for {minutes} more minutes (further refusals are not recorded)"
        )
    })
}

/// One event in each tenant the account is a member of, as done by that account from
/// `ip`; never anything about the password but whether it was right.
pub(crate) fn audit_in_every_tenant(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    account: &Account,
    ip: &str,
    action: AuditAction,
    detail: impl Fn() -> String,
) -> Result<(), AppError> {
    let actor = Actor::person(
        account.id.clone(),
        Some(ip.to_string()),
        crate::services::SingleSignOn::Satisfied,
    );
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

fn too_many(refusal: &Refusal, now: PrimitiveDateTime) -> AppError {
    crate::telemetry::metrics::sign_in_failed();
    let minutes = refusal.minutes_left(now);
    let what = match refusal.limit {
        Limit::AccountFromAddress => "for this email from your address",
        Limit::Address => "from your address",
        Limit::Account => "for this email from new browsers and devices",
        Limit::Device => "for this email from this browser",
    };
    let plural = if minutes == 1 { "" } else { "s" };
    let hint = match refusal.limit {
        Limit::Account => ", or sign in from a browser you signed in with before",
        _ => "",
    };
    AppError::TooManyRequests(format!(
        "too many failed sign-ins {what}; try again in {minutes} minute{plural}{hint}"
    ))
}
