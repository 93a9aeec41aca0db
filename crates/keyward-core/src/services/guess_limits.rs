//! Guessing limits: how many secrets (a password today; two-factor codes and password-reset
//! requests later, each its own `Purpose`) may be tried against one account, counted in the
//! database so every instance agrees, without letting an attacker lock the owner out
//! (OWASP's "device cookies"):
//!
//! - clients without a device cookie for the account share `MAX_ACCOUNT` guesses per
//!   account per `WINDOW`, whatever their addresses, and each address group (an IPv6 /64,
//!   an IPv4 address) has `MAX_PAIR` of them and `MAX_ADDRESS` over every account;
//! - a browser that signed in to the account before carries a device cookie naming the
//!   account (`KnownDevice`) and has `MAX_DEVICE` guesses of its own, untouched by what
//!   new clients did; after them that device is locked out too. Two-factor codes
//!   (`Purpose::TwoFactor`) ignore device cookies: every code guess counts against the
//!   account, whoever makes it.
//!
//! A limit reached locks its scope for `LOCKOUT` after its last counted guess. A guess is
//! counted *before* the secret is checked, so guesses racing each other see one another,
//! and a refused guess costs no check at all (no argon2). The subject is the SHA-256 of
//! the normalised email, known account or not, so a limit says nothing about whether an
//! account exists. Refusals are audited by the caller once per lock (`Refusal::audit_due`,
//! claimed in `throttle_notices`), not once per attempt.

use crate::db::models::sign_in::{FailureScope, SignInFailure, ThrottleNotice};
use crate::db::DbConnection;
use crate::domain::{address_group, new_id, TokenDigest};
use crate::error::AppError;
use time::{Duration, PrimitiveDateTime};

/// Guesses per account and address group by clients without a device cookie.
pub const MAX_PAIR: i64 = 5;
/// Guesses per address group, whatever the account, by clients without a device cookie.
pub const MAX_ADDRESS: i64 = 20;
/// Guesses per account by all clients without a device cookie together.
pub const MAX_ACCOUNT: i64 = 10;
/// Guesses per device cookie.
pub const MAX_DEVICE: i64 = 10;
pub const WINDOW: Duration = Duration::minutes(15);
pub const LOCKOUT: Duration = Duration::minutes(15);

/// What is being guessed; each has its own counts per account and device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Password,
    /// Requests for a password-reset mail ("Forgot your password?").
    PasswordReset,
    /// A two-factor code, asked for after a right password: counted per account (and per
    /// known device) only, since the password already passed the address limits.
    TwoFactor,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Password => "password",
            Purpose::PasswordReset => "password_reset",
            Purpose::TwoFactor => "two_factor",
        }
    }

    /// Whether guesses of this purpose are also limited per address group.
    fn limits_addresses(self) -> bool {
        self != Purpose::TwoFactor
    }

    /// Whether a device cookie gives guesses of this purpose an allowance of their own.
    /// Not for two-factor codes: device cookies are minted by the password alone (while
    /// two-factor was off, or by whoever has the password), so an attacker with N of them
    /// would get N allowances; every code guess counts against the account.
    fn honours_devices(self) -> bool {
        self != Purpose::TwoFactor
    }
}

/// A browser that signed in to `account_id` before, as its device cookie (whose signature
/// and age the web layer checked) says, under the password whose `credential_epoch` is
/// `epoch`; `nonce` tells one such browser from another. No Debug of the nonce.
#[derive(Clone, PartialEq, Eq)]
pub struct KnownDevice {
    pub account_id: String,
    pub epoch: String,
    pub nonce: String,
}

impl KnownDevice {
    /// Whether the cookie is `account`'s and was issued under its current password: a
    /// password change retires every device cookie issued before it.
    pub fn is_current_for(&self, account_id: &str, password_hash: Option<&str>) -> bool {
        self.account_id == account_id
            && password_hash.is_some()
            && self.epoch == credential_epoch(password_hash)
    }
}

/// The account's credential epoch, which device cookies carry: the first 8 bytes of the
/// SHA-256 of the stored password hash (hex), so it changes with every password change
/// (each hash has a fresh salt) and reveals nothing of the hash. `-` with no password.
pub fn credential_epoch(password_hash: Option<&str>) -> String {
    use sha2::{Digest, Sha256};
    match password_hash {
        Some(hash) => Sha256::digest(hash.as_bytes())[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        None => "-".into(),
    }
}

impl std::fmt::Debug for KnownDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnownDevice")
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

/// Which limit refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    AccountFromAddress,
    Address,
    Account,
    Device,
}

/// A guess refused before anything was checked.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub limit: Limit,
    pub until: PrimitiveDateTime,
    /// The first refusal of this lock: the caller audits it (later ones are not).
    pub audit_due: bool,
}

impl Refusal {
    /// Whole minutes until the lock lifts, rounded up.
    pub fn minutes_left(&self, now: PrimitiveDateTime) -> i64 {
        ((self.until - now).whole_seconds() + 59) / 60
    }
}

/// A counted guess whose secret is still to be checked. Its row stays (a failure) unless
/// the caller reports success.
#[derive(Debug)]
pub struct Guess {
    /// This guess's row.
    id: String,
    purpose: Purpose,
    subject_digest: String,
    group: String,
    device: Option<String>,
}

impl Guess {
    /// The secret was right: this client's failures at this account are forgotten (a
    /// new client's from its address group; a device's count goes with its cookie, which
    /// the caller replaces). The account's count stays: a right guess by the owner must
    /// not hand an attacker a fresh allowance. For a purpose limited per account only
    /// (two-factor codes) only this guess is forgotten: the failures are all the
    /// account's, and clearing an address group's would lower the account's count.
    pub fn succeeded(self, conn: &mut DbConnection) -> Result<(), AppError> {
        if !self.purpose.limits_addresses() {
            SignInFailure::delete(conn, &self.id)?;
            return Ok(());
        }
        if self.device.is_none() {
            SignInFailure::clear(
                conn,
                &self.subject_digest,
                &self.group,
                self.purpose.as_str(),
            )?;
        }
        Ok(())
    }

    /// Whether a browser that signed in before made it (its device cookie counted).
    pub fn by_known_device(&self) -> bool {
        self.device.is_some()
    }

    /// The address group the guess was counted under.
    pub fn address_group(&self) -> &str {
        &self.group
    }

    pub fn subject_digest(&self) -> &str {
        &self.subject_digest
    }
}

/// Counts a guess of `purpose` at `subject` (the normalised email) from `ip`, by a
/// `device` whose cookie names `account_id` (the account `subject` names, if any), or
/// refuses it when a limit is reached. `Ok(Err(_))` is a refusal.
pub fn begin(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    purpose: Purpose,
    subject: &str,
    account_id: Option<&str>,
    ip: &str,
    device: Option<&KnownDevice>,
) -> Result<Result<Guess, Refusal>, AppError> {
    let subject_digest = TokenDigest::of(subject).into_inner();
    let group = address_group(ip);
    // A cookie counts only for the account it names; for any other email (or one with
    // no account) the client is new, as one without a cookie.
    let device = device
        .filter(|_| purpose.honours_devices())
        .filter(|d| account_id.is_some_and(|id| id == d.account_id))
        .map(|d| TokenDigest::of(&d.nonce).into_inner());
    let p = purpose.as_str();
    let mut limits = scopes(p, &subject_digest, &group, device.as_deref());
    limits.retain(|(limit, _, _)| {
        purpose.limits_addresses()
            || *limit != Limit::Address && *limit != Limit::AccountFromAddress
    });
    let notice = |limit: Limit, until: PrimitiveDateTime| {
        let whose = match limit {
            Limit::AccountFromAddress => format!("{subject_digest}|{group}"),
            Limit::Account => subject_digest.clone(),
            Limit::Device => device.clone().unwrap_or_default(),
            Limit::Address => group.clone(),
        };
        TokenDigest::of(&format!("{p}|{limit:?}|{whose}|{until}")).into_inner()
    };
    for &(limit, scope, max) in &limits {
        if let Some(until) = locked_until(conn, scope, max)?.filter(|&until| now < until) {
            return Ok(Err(refusal(conn, now, limit, until, notice(limit, until))?));
        }
    }
    let id = new_id();
    SignInFailure {
        id: id.clone(),
        email_digest: subject_digest.clone(),
        ip: group.clone(),
        at: now,
        purpose: p.to_string(),
        device: device.clone().unwrap_or_default(),
    }
    .insert(conn)?;
    for &(limit, scope, max) in &limits {
        // A refused racer's row stays: deleting it could let racers that all counted too
        // many leave fewer than `max` rows behind, and so no lock.
        if SignInFailure::count_since(conn, scope, now - WINDOW)? > max {
            let until = locked_until(conn, scope, max)?.unwrap_or(now + LOCKOUT);
            return Ok(Err(refusal(conn, now, limit, until, notice(limit, until))?));
        }
    }
    Ok(Ok(Guess {
        id,
        purpose,
        subject_digest,
        group,
        device,
    }))
}

/// The limit this guess's failure just locked, if any (for the audit line of the failure
/// that locks): the account's or the device's first, then the account's at this address.
pub fn locked_by(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    guess: &Guess,
) -> Result<Option<Limit>, AppError> {
    let p = guess.purpose.as_str();
    let mut limits = scopes(
        p,
        &guess.subject_digest,
        &guess.group,
        guess.device.as_deref(),
    );
    limits.retain(|(limit, _, _)| {
        *limit != Limit::Address
            && (guess.purpose.limits_addresses() || *limit != Limit::AccountFromAddress)
    });
    limits.sort_by_key(|(limit, _, _)| *limit == Limit::AccountFromAddress);
    for (limit, scope, max) in limits {
        if locked_until(conn, scope, max)?.is_some_and(|t| now < t) {
            return Ok(Some(limit));
        }
    }
    Ok(None)
}

/// The limits a guess counts against: its device's alone for a known device, else the
/// account's at this address group, the address group's and the account's.
fn scopes<'a>(
    purpose: &'a str,
    subject_digest: &'a str,
    group: &'a str,
    device: Option<&'a str>,
) -> Vec<(Limit, FailureScope<'a>, i64)> {
    match device {
        Some(device) => vec![(
            Limit::Device,
            FailureScope::Device { device, purpose },
            MAX_DEVICE,
        )],
        None => vec![
            (
                Limit::AccountFromAddress,
                FailureScope::EmailAndAddress {
                    email_digest: subject_digest,
                    ip: group,
                    purpose,
                },
                MAX_PAIR,
            ),
            (
                Limit::Address,
                FailureScope::Address { ip: group },
                MAX_ADDRESS,
            ),
            (
                Limit::Account,
                FailureScope::Account {
                    email_digest: subject_digest,
                    purpose,
                },
                MAX_ACCOUNT,
            ),
        ],
    }
}

/// The refusal, claiming its lock's audit unless the lock is an address's (which names no
/// account: auditing it at whatever email was tried would cost a write per refused
/// request, and answer known emails more slowly than unknown ones).
fn refusal(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    limit: Limit,
    until: PrimitiveDateTime,
    notice_id: String,
) -> Result<Refusal, AppError> {
    let audit_due = limit != Limit::Address
        && !ThrottleNotice::exists(conn, &notice_id)?
        && ThrottleNotice::claim(conn, &notice_id, now)?;
    Ok(Refusal {
        limit,
        until,
        audit_due,
    })
}

/// When the lock on this scope lifts, if its last `max` guesses fell within `WINDOW` of
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

/// Forgets every counted guess of `purpose` at `subject` (the normalised email), from
/// every address and device: the account's lockouts are lifted (after its password was
/// reset).
pub fn lift(conn: &mut DbConnection, purpose: Purpose, subject: &str) -> Result<usize, AppError> {
    let digest = TokenDigest::of(subject).into_inner();
    Ok(SignInFailure::clear_subject(
        conn,
        &digest,
        purpose.as_str(),
    )?)
}

/// Deletes what no longer counts anywhere (housekeeping).
pub fn sweep(conn: &mut DbConnection, now: PrimitiveDateTime) -> Result<usize, AppError> {
    let before = now - WINDOW - LOCKOUT;
    Ok(SignInFailure::delete_before(conn, before)? + ThrottleNotice::delete_before(conn, before)?)
}
