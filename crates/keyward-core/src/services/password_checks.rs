//! The use cases that check or set a password, for every surface: each counts the attempt
//! in one transaction, runs argon2 among the bounded hashers (`passwords::verify_bounded`,
//! `hash_bounded`) with no database connection held, then stores the outcome in another.

use crate::db::models::Account;
use crate::db::Database;
use crate::domain::{Clock, Password};
use crate::error::AppError;
use crate::services::guess_limits::KnownDevice;
use crate::services::sealing::SealingKeys;
use crate::services::sign_in::PasswordUse;
use crate::services::two_factor::{self, RecoveryCodes};
use crate::services::{accounts, passwords, run_blocking, sign_in, Actor};
use std::sync::Arc;

/// Signs in with an email and a password from `ip` (and the browser's device cookie, if
/// any): the account when the password is right; the failure is recorded otherwise.
pub async fn sign_in_with_password(
    db: &Database,
    clock: &Clock,
    email: String,
    ip: String,
    device: Option<KnownDevice>,
    password: Password,
    purpose: PasswordUse,
) -> Result<Account, AppError> {
    let pending = run_blocking(db, clock, move |conn, now| {
        sign_in::begin(conn, now, &email, &ip, device.as_ref())
    })
    .await?;
    let verified = passwords::verify_bounded(pending.hash.clone(), password).await?;
    run_blocking(db, clock, move |conn, now| {
        sign_in::finish(conn, now, pending, verified, purpose)
    })
    .await
}

/// Changes the actor's own password: the attempt is counted, then the current password
/// is verified and the new one hashed, then the change is stored (see
/// `accounts::change_own_password`, the same steps on one blocking thread).
pub async fn change_own_password(
    db: &Database,
    clock: &Clock,
    actor: Actor,
    current: Password,
    new: Password,
) -> Result<(), AppError> {
    let begun = actor.clone();
    let pending = run_blocking(db, clock, move |conn, now| {
        accounts::begin_password_change(conn, &begun, now)
    })
    .await?;
    let verified = passwords::verify_bounded(pending.hash.clone(), current).await?;
    let new = match verified {
        true => Some(passwords::hash_bounded(new).await?),
        false => None,
    };
    run_blocking(db, clock, move |conn, now| {
        accounts::finish_password_change(conn, &actor, now, pending, new, None)
    })
    .await
}

/// Turns two-factor on for the actor: their password and the authenticator's first code;
/// the recovery codes to show once.
pub async fn enable_two_factor(
    db: &Database,
    clock: &Clock,
    keys: Arc<SealingKeys>,
    actor: Actor,
    password: Password,
    code: String,
) -> Result<RecoveryCodes, AppError> {
    let begun = (actor.clone(), code.clone());
    let pending = run_blocking(db, clock, move |conn, now| {
        two_factor::begin_enrolment_confirmation(conn, now, &begun.0, &begun.1)
    })
    .await?;
    let verified = passwords::verify_bounded(pending.hash.clone(), password).await?;
    run_blocking(db, clock, move |conn, now| {
        two_factor::confirm_enrolment(conn, now, &keys, &actor, pending, verified, &code)
    })
    .await
}

/// New recovery codes for the actor, who gives their password; the old ones stop working.
pub async fn regenerate_recovery_codes(
    db: &Database,
    clock: &Clock,
    keys: Arc<SealingKeys>,
    actor: Actor,
    password: Password,
) -> Result<RecoveryCodes, AppError> {
    let begun = actor.clone();
    let pending = run_blocking(db, clock, move |conn, now| {
        two_factor::begin_recovery_codes(conn, now, &begun)
    })
    .await?;
    let verified = passwords::verify_bounded(pending.hash.clone(), password).await?;
    run_blocking(db, clock, move |conn, now| {
        two_factor::regenerate_recovery_codes(conn, now, &keys, &actor, pending, verified)
    })
    .await
}

/// Turns two-factor off for the actor: their password and a current code.
pub async fn disable_two_factor(
    db: &Database,
    clock: &Clock,
    keys: Arc<SealingKeys>,
    actor: Actor,
    password: Password,
    code: String,
) -> Result<(), AppError> {
    let begun = (actor.clone(), code.clone());
    let pending = run_blocking(db, clock, move |conn, now| {
        two_factor::begin_disable(conn, now, &begun.0, &begun.1)
    })
    .await?;
    let verified = passwords::verify_bounded(pending.hash.clone(), password).await?;
    run_blocking(db, clock, move |conn, now| {
        two_factor::finish_disable(conn, now, &keys, &actor, pending, verified, &code)
    })
    .await
}
