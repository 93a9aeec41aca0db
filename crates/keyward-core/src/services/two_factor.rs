//! Two-factor sign-in (issue 27): RFC 6238 authenticator codes (SHA-1, 6 digits, 30 s
//! steps: what authenticator apps support) and recovery codes.
//!
//! - **Enrolment** (`enrolment`, `confirm_enrolment`): a new secret is sealed into the
//!   account's `two_factor` row with `enabled_at` unset and shown (QR code, `otpauth://`
//!   link, text) until a valid code turns it on; then ten recovery codes are shown once.
//! - **At rest** the secret is sealed with AES-256-GCM (random nonce, the account id as
//!   associated data, so a sealed secret cannot be moved to another account) under a key
//!   derived from the server secret with HKDF-SHA256 (info "keyward two-factor v1"); the
//!   row's `key_version` names that key, so a server whose secret changed says so instead
//!   of failing obscurely. Recovery codes are stored only as HMAC-SHA256 digests under a
//!   second derived key, bound to the account.
//! - **Sign-in**: a right password for an account with two-factor on opens a *pending
//!   sign-in* (`open_pending_sign_in`: a row keyed by the SHA-256 of a random token the
//!   browser holds, valid `PENDING_SIGN_IN`), not a session; `complete_sign_in` takes an
//!   authenticator code (current step ±1) or a recovery code. A code at or before the
//!   account's last accepted step is refused in the same UPDATE that accepts a later one
//!   (RFC 6238 §5.2), and a recovery code is used up in one conditional UPDATE, so two
//!   racing requests cannot both pass. Wrong codes count against the account in
//!   `guess_limits` (`Purpose::TwoFactor`: ten per account per 15 minutes, whatever the
//!   client: a device cookie, which the password alone earns, gives no extra guesses). Every outcome is audited in each of the account's
//!   tenants.
//! - **Off**: by the person with their password and a code (`begin_disable` /
//!   `finish_disable`), or by an operator (`reset_by_operator`).
//! - **Tenants** may require two-factor of their members for the dashboard
//!   (`enrolment_required_by`); API keys are not affected.

use crate::db::models::two_factor::{
    PendingSignInRow, RecoveryCodeRow, TenantTwoFactorRequirement, TwoFactorRow,
};
use crate::db::models::{Account, Membership, SessionRow};
use crate::db::DbConnection;
use crate::domain::api_key::random_secret;
use crate::domain::{new_id, AccountId, AuditAction, TenantId, TokenDigest};
use crate::error::AppError;
use crate::services::actor::ActorKind;
use crate::services::audit::{self, Event};
use crate::services::guess_limits::{self, Purpose, Refusal};
use crate::services::permissions::{self, Permission};
use crate::services::sealing::SealingKeys;
use crate::services::sign_in::{self, Attempt};
use crate::services::{transaction, Actor};
use time::{Duration, PrimitiveDateTime};

/// The issuer authenticator apps show beside the account's email.
pub const ISSUER: &str = "Keyward";
/// How long a password accepted for an account with two-factor waits for its code.
pub const PENDING_SIGN_IN: Duration = Duration::minutes(5);
/// How long a secret shown for enrolment waits for its first code; after that, opening
/// the page shows a new one.
pub const ENROLMENT_WAITS: Duration = Duration::minutes(15);
/// How many recovery codes a person gets each time.
pub const RECOVERY_CODES: usize = 10;
/// Pending sign-ins kept per account (the newest); older ones are dropped.
const MAX_PENDING_PER_ACCOUNT: usize = 5;
/// Bytes of a new authenticator secret (RFC 4226 recommends 160 bits).
const SECRET_BYTES: usize = 20;
/// Characters of a recovery code, without look-alikes (no 0/o, 1/l/i).
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

pub const WRONG_CODE: &str = "the code is not right";
/// Said, as a 503, when the account's secret was sealed under a server secret this server
/// does not have: no code can be checked, so none is counted as a guess.
pub const KEYS_CHANGED: &str = "two-factor can't be checked on this server; ask the operator: the server secret changed (KEYWARD_PREVIOUS_SESSION_SECRET)";
pub const SIGN_IN_EXPIRED: &str =
    "this sign-in has expired (a code must follow the password within five minutes): sign in again";

/// Opens the account's sealed secret, or says what to do when the server secret that
/// sealed it is gone.
fn open_row(keys: &SealingKeys, row: &TwoFactorRow) -> Result<Vec<u8>, AppError> {
    if !keys.opens(&row.key_version) {
        return Err(AppError::internal(format!(
            "the two-factor secret of account {} was sealed under another server secret ({}, this server has {}): set KEYWARD_PREVIOUS_SESSION_SECRET to that secret while people sign in again, or turn two-factor off for the account with `keyward admin reset-two-factor`",
            row.account_id, row.key_version, keys.version()
        )));
    }
    keys.open(&row.key_version, &row.account_id, &row.secret_sealed)
}

fn recovery_digest(keys: &SealingKeys, account_id: &str, code: &str) -> String {
    keys.digest(format!("{account_id}:{code}").as_bytes())
}

/// The digests a code may be stored under: the current keys' and the previous ones'.
fn recovery_digests(keys: &SealingKeys, account_id: &str, code: &str) -> Vec<String> {
    keys.digests(format!("{account_id}:{code}").as_bytes())
}

/// The authenticator of `secret` for `email` (RFC 6238: SHA-1, 6 digits, 30 s, ±1 step).
fn authenticator(secret: Vec<u8>, email: &str) -> Result<totp_rs::Totp, AppError> {
    // The otpauth label may not hold ':'; no email does, but a stored one is not re-checked.
    totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_skew(1)
        .with_secret(secret)
        .with_issuer(Some(ISSUER))
        .with_account_name(email.replace(':', " "))
        .build()
        .map_err(|e| AppError::internal(format!("the authenticator cannot be built: {e}")))
}

fn unix_time(now: PrimitiveDateTime) -> u64 {
    now.assume_utc().unix_timestamp().max(0) as u64
}

/// What a person enters at a code prompt.
#[derive(PartialEq, Eq)]
enum Code {
    Authenticator(String),
    Recovery(String),
}

/// Reads a code: six digits (spaces allowed) from an authenticator, or a recovery code
/// `abcde-12345` (case, spaces and the hyphen do not matter).
fn parse_code(field: &'static str, raw: &str) -> Result<Code, AppError> {
    let compact: String = raw
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect::<String>()
        .to_lowercase();
    if compact.len() == 6 && compact.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Code::Authenticator(compact));
    }
    if compact.len() == 10 && compact.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)) {
        return Ok(Code::Recovery(format!(
            "{}-{}",
            &compact[..5],
            &compact[5..]
        )));
    }
    Err(AppError::invalid(
        field,
        "enter the 6-digit code from your authenticator app, or one of your recovery codes (like abcde-12345)",
    ))
}

/// A secret shown while an enrolment waits for its first code. `Debug` shows nothing.
pub struct Enrolment {
    /// The secret in base32, for typing into an authenticator by hand.
    pub secret_base32: String,
    pub otpauth_url: String,
    /// The `otpauth://` URL as an SVG QR code.
    pub qr_svg: String,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enrolment(<redacted>)")
    }
}

/// Recovery codes, shown once. `Debug` shows only how many.
pub struct RecoveryCodes(pub Vec<String>);

impl std::fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecoveryCodes({} codes)", self.0.len())
    }
}

/// Where a person's two-factor stands.
#[derive(Debug)]
pub enum TwoFactorState {
    /// Off: an enrolment waits for its first code (started by reading this state).
    Enrolling(Enrolment),
    On {
        enabled_at: PrimitiveDateTime,
        recovery_codes_left: i64,
    },
}

/// The signed-in person's account id; API keys do not manage two-factor (it guards the
/// dashboard, and a stolen key must not turn it off).
fn person(actor: &Actor) -> Result<&AccountId, AppError> {
    match &actor.kind {
        ActorKind::Person { account_id } => Ok(account_id),
        _ => Err(AppError::forbidden(
            "two-factor authentication is managed by the person, signed in to the dashboard",
        )),
    }
}

fn account(conn: &mut DbConnection, account_id: &str) -> Result<Account, AppError> {
    Account::find(conn, account_id)?
        .filter(|a| !a.is_service_account())
        .ok_or_else(|| AppError::not_found("account not found"))
}

/// Whether the account has two-factor on.
pub fn is_enabled(conn: &mut DbConnection, account_id: &AccountId) -> Result<bool, AppError> {
    Ok(TwoFactorRow::is_enabled(conn, account_id.as_str())?)
}

/// The person's two-factor state; when it is off, the enrolment waiting for a code (one
/// is started, sealed, if none waits).
pub fn state(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    keys: &SealingKeys,
    actor: &Actor,
) -> Result<TwoFactorState, AppError> {
    let account_id = person(actor)?.clone();
    let account = account(conn, account_id.as_str())?;
    let email = account.email.clone().unwrap_or_default();
    transaction(conn, |conn| {
        let row = TwoFactorRow::find(conn, account_id.as_str())?;
        if let Some(enabled_at) = row.as_ref().and_then(|r| r.enabled_at) {
            return Ok(TwoFactorState::On {
                enabled_at,
                recovery_codes_left: RecoveryCodeRow::count_unused(conn, account_id.as_str())?,
            });
        }
        // A waiting enrolment is shown again (a reload keeps the QR code); one sealed
        // under another server secret, or waiting longer than `ENROLMENT_WAITS`, is
        // replaced (a secret once shown is not good for ever).
        let secret = match row
            .filter(|r| now - r.created_at < ENROLMENT_WAITS)
            .map(|r| open_row(keys, &r))
        {
            Some(Ok(secret)) => secret,
            _ => {
                let mut secret = vec![0u8; SECRET_BYTES];
                rand::fill(&mut secret[..]);
                TwoFactorRow {
                    account_id: account_id.to_string(),
                    secret_sealed: keys.seal(account_id.as_str(), &secret)?,
                    key_version: keys.version().to_string(),
                    last_step: -1,
                    created_at: now,
                    enabled_at: None,
                    last_used_at: None,
                }
                .replace(conn)?;
                secret
            }
        };
        let totp = authenticator(secret, &email)?;
        let otpauth_url = totp
            .to_url()
            .map_err(|e| AppError::internal(format!("no otpauth URL: {e}")))?;
        let qr_svg = qrcode::QrCode::new(otpauth_url.as_bytes())
            .map_err(|e| AppError::internal(format!("no QR code: {e}")))?
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build();
        // Inline in the page: without the XML prolog, named for screen readers.
        let qr_svg = match qr_svg.find("<svg") {
            Some(at) => qr_svg[at..].replacen(
                "<svg",
                "<svg role=\"img\" aria-label=\"QR code to scan with an authenticator app\"",
                1,
            ),
            None => qr_svg,
        };
        Ok(TwoFactorState::Enrolling(Enrolment {
            secret_base32: totp.secret().to_base32(),
            otpauth_url,
            qr_svg,
        }))
    })
}

/// A change to the person's two-factor whose password is still to be checked (outside any
/// transaction, without a connection: see `passwords::verify_bounded`): turning it on,
/// new recovery codes, turning it off. A session alone (which may be stolen) does none of
/// them. No Debug: it holds a password hash.
pub struct PasswordCheck {
    attempt: Attempt,
    account: Account,
    /// The stored password hash to check the offered password against.
    pub hash: String,
}

/// Counts the password offered for a two-factor change as a guess (the sign-in limits,
/// as a new client's: a session is no device cookie), or refuses when it is locked.
fn begin_password_check(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    actor: &Actor,
) -> Result<PasswordCheck, AppError> {
    let account_id = person(actor)?.clone();
    let account = account(conn, account_id.as_str())?;
    let hash = account
        .password_hash
        .clone()
        .ok_or_else(|| AppError::invalid("password", "this account has no password"))?;
    let email = sign_in::normalise_email(account.email.as_deref().unwrap_or_default())?;
    let ip = actor.ip.as_deref().unwrap_or("unknown");
    let attempt = sign_in::begin_attempt(conn, now, &email, Some(&account), ip, None)?;
    Ok(PasswordCheck {
        attempt,
        account,
        hash,
    })
}

/// `begin_password_check` for a change that needs two-factor on: refuses with `when_off`
/// (a conflict) before the password is counted when it is off.
fn begin_password_check_while_on(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    actor: &Actor,
    when_off: &str,
) -> Result<PasswordCheck, AppError> {
    if !is_enabled(conn, person(actor)?)? {
        return Err(AppError::Conflict(when_off.into()));
    }
    begin_password_check(conn, now, actor)
}

/// The account of a checked password: a wrong one is audited as `refused_action` and
/// refused (its counted guess stays), a right one forgets this client's failures.
fn finish_password_check(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    actor: &Actor,
    check: PasswordCheck,
    verified: bool,
    (refused_action, what): (AuditAction, &str),
) -> Result<Account, AppError> {
    let PasswordCheck {
        attempt, account, ..
    } = check;
    if !verified {
        audit_in_every_tenant(
            conn,
            now,
            actor,
            &account.id,
            refused_action,
            format!("{what} refused: wrong password"),
        )?;
        return Err(AppError::invalid("password", "is not your password"));
    }
    attempt.succeeded(conn)?;
    Ok(account)
}

/// The first step of turning two-factor on: refuses a code that cannot be the
/// authenticator's before the password is counted, then counts it.
pub fn begin_enrolment_confirmation(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    actor: &Actor,
    code: &str,
) -> Result<PasswordCheck, AppError> {
    person(actor)?;
    authenticator_code(code)?;
    begin_password_check(conn, now, actor)
}

fn authenticator_code(code: &str) -> Result<String, AppError> {
    match parse_code("code", code)? {
        Code::Authenticator(code) => Ok(code),
        Code::Recovery(_) => Err(AppError::invalid(
            "code",
            "enter the 6-digit code your authenticator app shows for Keyward",
        )),
    }
}

/// Turns two-factor on with the person's password (`verified`) and the first code of the
/// waiting enrolment; answers with the recovery codes, shown once. Every session of the
/// account ends (the caller's goes on under a new id): one opened with the password
/// alone, perhaps by someone else, does not outlive two-factor. Audited in each of the
/// person's tenants.
pub fn confirm_enrolment(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    keys: &SealingKeys,
    actor: &Actor,
    check: PasswordCheck,
    verified: bool,
    code: &str,
) -> Result<RecoveryCodes, AppError> {
    let account = finish_password_check(
        conn,
        now,
        actor,
        check,
        verified,
        (AuditAction::TwoFactorEnableRefused, "turning two-factor on"),
    )?;
    let account_id = account.account_id();
    let code = authenticator_code(code)?;
    transaction(conn, |conn| {
        let row = match TwoFactorRow::find(conn, account_id.as_str())? {
            Some(row) if row.enabled_at.is_none() => row,
            Some(_) => {
                return Err(AppError::Conflict(
                    "two-factor authentication is already on".into(),
                ))
            }
            None => {
                return Err(AppError::invalid(
                    "code",
                    "no enrolment is waiting: open the page again to get a new QR code",
                ))
            }
        };
        let totp = authenticator(
            open_row(keys, &row)?,
            account.email.as_deref().unwrap_or(""),
        )?;
        let Some(step) = totp.check(&code, unix_time(now)) else {
            return Err(AppError::invalid(
                "code",
                "is not the code your authenticator shows now: check that the phone's clock is right, and enter the newest code",
            ));
        };
        if !TwoFactorRow::enable(conn, account_id.as_str(), step as i64, now)? {
            return Err(AppError::Conflict(
                "two-factor authentication is already on".into(),
            ));
        }
        SessionRow::delete_all_of_account(conn, account_id.as_str())?;
        new_recovery_codes(
            conn,
            now,
            keys,
            actor,
            account_id.as_str(),
            (
                AuditAction::TwoFactorEnabled,
                "two-factor authentication turned on; other sessions ended",
            ),
        )
    })
}

/// The first step of new recovery codes: refuses when two-factor is off, then counts the
/// password.
pub fn begin_recovery_codes(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    actor: &Actor,
) -> Result<PasswordCheck, AppError> {
    begin_password_check_while_on(
        conn,
        now,
        actor,
        "two-factor authentication is off: turn it on first",
    )
}

/// Replaces the person's recovery codes (the old ones stop working) when their password
/// was right (`verified`); answers with the new ones, shown once.
pub fn regenerate_recovery_codes(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    keys: &SealingKeys,
    actor: &Actor,
    check: PasswordCheck,
    verified: bool,
) -> Result<RecoveryCodes, AppError> {
    let account = finish_password_check(
        conn,
        now,
        actor,
        check,
        verified,
        (AuditAction::RecoveryCodesRefused, "new recovery codes"),
    )?;
    let account_id = account.account_id();
    transaction(conn, |conn| {
        // First an UPDATE of the account's row, which locks it: two racing requests
        // cannot each delete the old codes and then both insert ten (twenty valid).
        if !TwoFactorRow::lock_enabled(conn, account_id.as_str())? {
            return Err(AppError::Conflict(
                "two-factor authentication is off: turn it on first".into(),
            ));
        }
        new_recovery_codes(
            conn,
            now,
            keys,
            actor,
            account_id.as_str(),
            (
                AuditAction::RecoveryCodesRegenerated,
                "new recovery codes; the old ones no longer work",
            ),
        )
    })
}

/// Replaces the account's recovery codes with `RECOVERY_CODES` new ones, audited as
/// `(action, detail)` of `actor`.
fn new_recovery_codes(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    keys: &SealingKeys,
    actor: &Actor,
    account_id: &str,
    (action, detail): (AuditAction, &str),
) -> Result<RecoveryCodes, AppError> {
    use rand::RngExt;
    RecoveryCodeRow::delete_of_account(conn, account_id)?;
    let mut rng = rand::rng();
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let chars: String = (0..10)
            .map(|_| RECOVERY_ALPHABET[rng.random_range(0..RECOVERY_ALPHABET.len())] as char)
            .collect();
        let code = format!("{}-{}", &chars[..5], &chars[5..]);
        RecoveryCodeRow {
            id: new_id(),
            account_id: account_id.to_string(),
            code_digest: recovery_digest(keys, account_id, &code),
            created_at: now,
            used_at: None,
        }
        .insert(conn)?;
        codes.push(code);
    }
    audit_in_every_tenant(conn, now, actor, account_id, action, detail.into())?;
    Ok(RecoveryCodes(codes))
}

/// How a code was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeKind {
    Authenticator,
    Recovery,
}

/// Checks a code of the account's: an authenticator code later than the last accepted
/// step, or an unused recovery code, each accepted in one conditional UPDATE. `Ok(None)`:
/// wrong, replayed or used up (with why, for the audit log).
fn accept_code(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    keys: &SealingKeys,
    account: &Account,
    code: &Code,
) -> Result<Result<CodeKind, &'static str>, AppError> {
    match code {
        Code::Authenticator(code) => {
            let Some(row) =
                TwoFactorRow::find(conn, &account.id)?.filter(|r| r.enabled_at.is_some())
            else {
                return Ok(Err("two-factor is off"));
            };
            let secret = open_row(keys, &row)?;
            let totp = authenticator(secret.clone(), account.email.as_deref().unwrap_or(""))?;
            let Some(step) = totp.check(code, unix_time(now)) else {
                return Ok(Err("wrong authenticator code"));
            };
            if !TwoFactorRow::accept_step(conn, &account.id, step as i64, now)? {
                return Ok(Err("authenticator code already used"));
            }
            if row.key_version != keys.version() {
                // Sealed under the previous server secret: from now on under this one.
                let sealed = keys.seal(&account.id, &secret)?;
                TwoFactorRow::reseal(conn, &account.id, &sealed, keys.version())?;
            }
            Ok(Ok(CodeKind::Authenticator))
        }
        Code::Recovery(code) => {
            let digests = recovery_digests(keys, &account.id, code);
            match RecoveryCodeRow::use_up(conn, &account.id, &digests, now)? {
                true => Ok(Ok(CodeKind::Recovery)),
                false => Ok(Err("wrong or already used recovery code")),
            }
        }
    }
}

/// Opens a pending sign-in for an account whose password was just accepted, if it has
/// two-factor on: the token the browser keeps for the code step. `None`: no code needed.
pub fn open_pending_sign_in(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    account_id: &AccountId,
    next: &str,
) -> Result<Option<String>, AppError> {
    if !is_enabled(conn, account_id)? {
        return Ok(None);
    }
    let token = random_secret(43);
    transaction(conn, |conn| {
        PendingSignInRow::delete_expired(conn, now)?;
        for old in PendingSignInRow::digests_of_account(conn, account_id.as_str())?
            .into_iter()
            .skip(MAX_PENDING_PER_ACCOUNT - 1)
        {
            PendingSignInRow::delete(conn, &old)?;
        }
        PendingSignInRow {
            id_digest: TokenDigest::of(&token).into_inner(),
            account_id: account_id.to_string(),
            next: next.to_string(),
            created_at: now,
            expires_at: now + PENDING_SIGN_IN,
        }
        .insert(conn)?;
        Ok(())
    })?;
    Ok(Some(token))
}

/// Ends every pending sign-in of the account: its password changed (a password that is no
/// longer right must not lead on to the code step).
pub fn end_pending_sign_ins(
    conn: &mut DbConnection,
    account_id: &AccountId,
) -> Result<(), AppError> {
    PendingSignInRow::delete_of_account(conn, account_id.as_str())?;
    Ok(())
}

/// Ends the pending sign-in `token` names, if any (signing out).
pub fn end_pending_sign_in(conn: &mut DbConnection, token: &str) -> Result<(), AppError> {
    if !token.is_empty() && token.len() <= 100 {
        PendingSignInRow::delete(conn, &TokenDigest::of(token).into_inner())?;
    }
    Ok(())
}

/// The live pending sign-in `token` names, if any (an expired one is deleted).
fn live_pending(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    token: &str,
) -> Result<Option<PendingSignInRow>, AppError> {
    if token.is_empty() || token.len() > 100 {
        return Ok(None);
    }
    let digest = TokenDigest::of(token).into_inner();
    match PendingSignInRow::find(conn, &digest)? {
        Some(row) if now < row.expires_at => Ok(Some(row)),
        Some(_) => {
            PendingSignInRow::delete(conn, &digest)?;
            Ok(None)
        }
        None => Ok(None),
    }
}

/// Whether `token` names a live pending sign-in (for the code form).
pub fn pending_sign_in_is_live(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    token: &str,
) -> Result<bool, AppError> {
    Ok(live_pending(conn, now, token)?.is_some())
}

/// A sign-in completed with a code.
#[derive(Debug)]
pub struct CompletedSignIn {
    pub account: Account,
    /// Where the person was going when they signed in.
    pub next: String,
    pub by: CodeKind,
}

/// The code step: completes the pending sign-in `token` names with an authenticator or
/// recovery code, within the account's guessing limits. A wrong code leaves the pending
/// sign-in open (until it expires); a right one ends it.
pub fn complete_sign_in(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    keys: &SealingKeys,
    token: &str,
    code: &str,
    ip: &str,
) -> Result<CompletedSignIn, AppError> {
    let Some(pending) = live_pending(conn, now, token)? else {
        return Err(AppError::unauthenticated(SIGN_IN_EXPIRED));
    };
    let account = account(conn, &pending.account_id)?;
    let by = check_code(conn, now, keys, &account, code, ip)?;
    PendingSignInRow::delete(conn, &pending.id_digest)?;
    let detail = match by {
        CodeKind::Authenticator => {
            "signed in with a password and an authenticator code".to_string()
        }
        CodeKind::Recovery => format!(
            "signed in with a password and a recovery code ({} left)",
            RecoveryCodeRow::count_unused(conn, &account.id)?
        ),
    };
    sign_in::audit_in_every_tenant(
        conn,
        now,
        &account,
        ip,
        AuditAction::SignInSucceeded,
        || detail.clone(),
    )?;
    Ok(CompletedSignIn {
        account,
        next: pending.next,
        by,
    })
}

/// Checks a code of an account whose password was just accepted, within the account's
/// guessing limits (the code step of a sign-in, and of linking an identity provider:
/// `oidc::confirm_link`). A wrong code is counted and audited; call it outside any
/// transaction that a refusal rolls back, or the count would be lost.
pub fn check_code(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    keys: &SealingKeys,
    account: &Account,
    code: &str,
    ip: &str,
) -> Result<CodeKind, AppError> {
    let code = parse_code("code", code)?;
    require_openable(conn, keys, &account.id)?;
    let attempt = begin_code_attempt(conn, now, account, ip)?;
    match accept_code(conn, now, keys, account, &code)? {
        Ok(by) => {
            attempt.succeeded(conn)?;
            Ok(by)
        }
        Err(why) => {
            let locked = attempt.locked_by(conn, now)?;
            sign_in::audit_in_every_tenant(
                conn,
                now,
                account,
                ip,
                AuditAction::SignInCodeFailed,
                || {
                    match locked {
                    Some(_) => format!(
                        "{why}: {} wrong codes within {} minutes; the code step is locked for {} minutes",
                        guess_limits::MAX_ACCOUNT,
                        guess_limits::WINDOW.whole_minutes(),
                        guess_limits::LOCKOUT.whole_minutes()
                    ),
                    None => why.to_string(),
                }
                },
            )?;
            crate::telemetry::metrics::sign_in_failed();
            Err(AppError::unauthenticated(WRONG_CODE))
        }
    }
}

/// Refuses (503, `KEYS_CHANGED`) before any guess is counted when the account's secret
/// was sealed under a server secret this server does not have: its codes cannot be
/// checked (nor its recovery codes, whose digests are keyed the same way), and counting
/// them as wrong would lock the person out for the operator's mistake.
fn require_openable(
    conn: &mut DbConnection,
    keys: &SealingKeys,
    account_id: &str,
) -> Result<(), AppError> {
    match TwoFactorRow::find(conn, account_id)? {
        Some(row) if row.enabled_at.is_some() && !keys.opens(&row.key_version) => {
            tracing::warn!(
                account_id,
                sealed_under = %row.key_version,
                server_has = %keys.version(),
                "a two-factor code cannot be checked: the server secret changed without KEYWARD_PREVIOUS_SESSION_SECRET"
            );
            Err(AppError::Unavailable(KEYS_CHANGED.into()))
        }
        _ => Ok(()),
    }
}

/// How many accounts have two-factor on under a key these keys do not open (warned about
/// at startup: their people cannot sign in).
pub fn unopenable_count(conn: &mut DbConnection, keys: &SealingKeys) -> Result<i64, AppError> {
    Ok(TwoFactorRow::count_enabled_not_under(
        conn,
        &keys.versions(),
    )?)
}

/// Whether `e` is the refusal `require_openable` answers.
pub fn is_keys_changed(e: &AppError) -> bool {
    matches!(e, AppError::Unavailable(why) if why.to_string() == KEYS_CHANGED)
}

/// Counts a code guess at `account` before it is checked, or refuses it when the code
/// step is locked (the first refusal of a lock is audited). Against the account, whoever
/// guesses: no device cookie buys extra code guesses.
fn begin_code_attempt(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    account: &Account,
    ip: &str,
) -> Result<Attempt, AppError> {
    let email = sign_in::normalise_email(account.email.as_deref().unwrap_or_default())?;
    match guess_limits::begin(
        conn,
        now,
        Purpose::TwoFactor,
        &email,
        Some(&account.id),
        ip,
        None,
    )? {
        Ok(guess) => Ok(Attempt::new(guess, ip)),
        Err(refusal) => {
            if refusal.audit_due {
                let minutes = refusal.minutes_left(now);
                sign_in::audit_in_every_tenant(
                    conn,
                    now,
                    account,
                    ip,
                    AuditAction::SignInCodeRefused,
                    || {
                        format!("two-factor code refused without checking it: too many wrong codes; refused for {minutes} more minutes (further refusals are not recorded)")
                    },
                )?;
            }
            Err(too_many_codes(&refusal, now))
        }
    }
}

fn too_many_codes(refusal: &Refusal, now: PrimitiveDateTime) -> AppError {
    crate::telemetry::metrics::sign_in_failed();
    let minutes = refusal.minutes_left(now);
    let plural = if minutes == 1 { "" } else { "s" };
    AppError::TooManyRequests(format!(
        "too many wrong codes for this account; try again in {minutes} minute{plural}, or use a recovery code then"
    ))
}

/// Refuses callers that are not the signed-in person, an account without two-factor, a
/// code that cannot be one, and a locked account; counts the password as a guess.
pub fn begin_disable(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    actor: &Actor,
    code: &str,
) -> Result<PasswordCheck, AppError> {
    person(actor)?;
    parse_code("code", code)?;
    begin_password_check_while_on(conn, now, actor, "two-factor authentication is already off")
}

/// Turns two-factor off when the password was right (`verified`) and `code` is a valid
/// authenticator or recovery code; each refusal is audited.
pub fn finish_disable(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    keys: &SealingKeys,
    actor: &Actor,
    pending: PasswordCheck,
    verified: bool,
    code: &str,
) -> Result<(), AppError> {
    let account = finish_password_check(
        conn,
        now,
        actor,
        pending,
        verified,
        (
            AuditAction::TwoFactorDisableRefused,
            "turning two-factor off",
        ),
    )?;
    let code = parse_code("code", code)?;
    let ip = actor.ip.as_deref().unwrap_or("unknown");
    require_openable(conn, keys, &account.id)?;
    let code_attempt = begin_code_attempt(conn, now, &account, ip)?;
    if let Err(why) = accept_code(conn, now, keys, &account, &code)? {
        audit_in_every_tenant(
            conn,
            now,
            actor,
            &account.id,
            AuditAction::TwoFactorDisableRefused,
            format!("turning two-factor off refused: {why}"),
        )?;
        return Err(AppError::invalid("code", WRONG_CODE));
    }
    code_attempt.succeeded(conn)?;
    transaction(conn, |conn| {
        turn_off(conn, &account.id)?;
        audit_in_every_tenant(
            conn,
            now,
            actor,
            &account.id,
            AuditAction::TwoFactorDisabled,
            "two-factor authentication turned off (password and code given)".into(),
        )
    })
}

fn turn_off(conn: &mut DbConnection, account_id: &str) -> Result<(), AppError> {
    TwoFactorRow::delete(conn, account_id)?;
    RecoveryCodeRow::delete_of_account(conn, account_id)?;
    PendingSignInRow::delete_of_account(conn, account_id)?;
    Ok(())
}

/// `keyward admin reset-two-factor`: turns two-factor off for a person who lost their
/// device; audited as the operator. Their next sign-in needs the password only.
pub fn reset_by_operator(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    email: &str,
) -> Result<Account, AppError> {
    if !matches!(actor.kind, ActorKind::Operator) {
        return Err(AppError::forbidden(
            "only an operator (`keyward admin`) resets another person's two-factor",
        ));
    }
    let email = sign_in::normalise_email(email)?;
    let account = Account::find_by_email(conn, &email)?
        .ok_or_else(|| AppError::not_found(format!("no account has the email {email}")))?;
    transaction(conn, |conn| {
        if !is_enabled(conn, &account.account_id())? {
            return Err(AppError::Conflict(format!(
                "two-factor authentication is not on for {email}: nothing to reset"
            )));
        }
        turn_off(conn, &account.id)?;
        audit_in_every_tenant(
            conn,
            now,
            actor,
            &account.id,
            AuditAction::TwoFactorReset,
            format!("two-factor authentication turned off for {email} by an operator"),
        )
    })?;
    Ok(account)
}

/// One event in each tenant the account is a member of (tenant admins see who turned
/// two-factor on or off), and one with no tenant when it has none.
fn audit_in_every_tenant(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    actor: &Actor,
    account_id: &str,
    action: AuditAction,
    detail: String,
) -> Result<(), AppError> {
    let tenants = Membership::tenants_of(conn, account_id)?;
    if tenants.is_empty() {
        return audit::record_system(
            conn,
            actor,
            now,
            Event {
                tenant_id: None,
                action,
                target_id: Some(account_id),
                detail,
            },
        );
    }
    for (tenant, _) in tenants {
        audit::record_system(
            conn,
            actor,
            now,
            Event {
                tenant_id: Some(&tenant.id),
                action,
                target_id: Some(account_id),
                detail: detail.clone(),
            },
        )?;
    }
    Ok(())
}

// ---- tenants that require two-factor ----

/// The tenant, among the person's `tenant_ids`, that requires two-factor of them while
/// they do not have it on: they enrol before using the dashboard. Any of their tenants
/// counts, not only the current one, because pages such as User › API Keys act on every
/// tenant of the person (a key for a requiring tenant could be made from there).
pub fn enrolment_required_by(
    conn: &mut DbConnection,
    account_id: &AccountId,
    tenant_ids: &[String],
) -> Result<Option<String>, AppError> {
    if tenant_ids.is_empty() {
        return Ok(None);
    }
    match TenantTwoFactorRequirement::first_requiring(conn, tenant_ids)? {
        Some(tenant_id) if !is_enabled(conn, account_id)? => Ok(Some(tenant_id)),
        _ => Ok(None),
    }
}

/// Whether the tenant requires two-factor of its members; admins.
pub fn tenant_requirement(
    conn: &mut DbConnection,
    actor: &Actor,
    tenant_id: &TenantId,
) -> Result<bool, AppError> {
    permissions::require(conn, actor, tenant_id, Permission::ListMembers)?;
    Ok(TenantTwoFactorRequirement::is_required(
        conn,
        tenant_id.as_str(),
    )?)
}

/// Sets whether the tenant requires two-factor of its members (human admins: it governs
/// how people sign in), audited.
pub fn set_tenant_requirement(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    tenant_id: &TenantId,
    required: bool,
) -> Result<bool, AppError> {
    transaction(conn, |conn| {
        permissions::require(conn, actor, tenant_id, Permission::ManagePeople)?;
        let before = TenantTwoFactorRequirement::is_required(conn, tenant_id.as_str())?;
        if before == required {
            return Ok(required);
        }
        TenantTwoFactorRequirement::set(conn, tenant_id.as_str(), required, now)?;
        audit::record(
            conn,
            actor,
            now,
            Event {
                tenant_id: Some(tenant_id.as_str()),
                action: AuditAction::TwoFactorRequirementChanged,
                target_id: Some(tenant_id.as_str()),
                detail: match required {
                    true => "two-factor authentication required of members".into(),
                    false => "two-factor authentication no longer required".into(),
                },
            },
        )?;
        Ok(required)
    })
}

/// Which of `account_ids` have two-factor on (for the Members page and GraphQL).
pub fn enabled_among(
    conn: &mut DbConnection,
    account_ids: &[String],
) -> Result<std::collections::HashSet<String>, AppError> {
    Ok(TwoFactorRow::enabled_among(conn, account_ids)?
        .into_iter()
        .collect())
}

/// Deletes pending sign-ins past their five minutes (housekeeping).
pub fn sweep(conn: &mut DbConnection, now: PrimitiveDateTime) -> Result<usize, AppError> {
    Ok(PendingSignInRow::delete_expired(conn, now)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_read_whatever_their_spacing() {
        assert!(
            matches!(parse_code("c", " 123 456 "), Ok(Code::Authenticator(c)) if c == "123456")
        );
        assert!(
            matches!(parse_code("c", "ABCDE-23456"), Ok(Code::Recovery(c)) if c == "abcde-23456")
        );
        assert!(
            matches!(parse_code("c", "abcde23456"), Ok(Code::Recovery(c)) if c == "abcde-23456")
        );
        for bad in ["", "12345", "1234567", "abcde-1234", "abcd0-23456", "x"] {
            assert!(parse_code("c", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_account_and_key() {
        let keys = SealingKeys::derive(&[7u8; 64]);
        let row = |account_id: &str, sealed: String, version: &str| TwoFactorRow {
            account_id: account_id.into(),
            secret_sealed: sealed,
            key_version: version.into(),
            last_step: -1,
            created_at: time::macros::datetime!(2026-12-07 00:00),
            enabled_at: None,
            last_used_at: None,
        };
        let sealed = keys.seal("a", b"0123456789abcdefghij").unwrap();
        assert!(!sealed.contains("0123456789"));
        assert_eq!(
            open_row(&keys, &row("a", sealed.clone(), keys.version())).unwrap(),
            b"0123456789abcdefghij"
        );
        assert!(open_row(&keys, &row("b", sealed.clone(), keys.version())).is_err());
        let other = SealingKeys::derive(&[8u8; 64]);
        assert_ne!(other.version(), keys.version());
        assert!(open_row(&other, &row("a", sealed, keys.version())).is_err());
    }
}
