//! People: created by operators (or first-run setup, or an invitation), and their own
//! password changes.

use crate::db::models::{Account, SessionRow};
use crate::db::DbConnection;
use crate::domain::{
    new_id, AccountId, AccountKind, AuditAction, Email, Password, PersonName, TenantId,
};
use crate::error::{on_unique_violation, AppError};
use crate::services::audit::{self, Event};
use crate::services::passwords::{verify_password, HashedPassword};
use crate::services::permissions::{require_credential_change, require_operator};
use crate::services::sign_in;
use crate::services::{transaction, Actor};
use time::PrimitiveDateTime;

/// Creates a person with a password hashed before the connection was taken.
pub fn create_user(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    email: Email,
    name: PersonName,
    password: HashedPassword,
) -> Result<Account, AppError> {
    require_operator(actor, "creating people accounts")?;
    transaction(conn, |conn| {
        insert_user(conn, actor, now, email, name, password)
    })
}

pub(crate) fn insert_user(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    email: Email,
    name: PersonName,
    password_hash: HashedPassword,
) -> Result<Account, AppError> {
    insert_person(conn, actor, now, email, name, Some(password_hash))
}

/// A person who signs in only through single sign-on (`services::oidc`): no password.
pub(crate) fn insert_user_without_password(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    email: Email,
    name: PersonName,
) -> Result<Account, AppError> {
    insert_person(conn, actor, now, email, name, None)
}

fn insert_person(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    email: Email,
    name: PersonName,
    password_hash: Option<HashedPassword>,
) -> Result<Account, AppError> {
    let account = Account {
        id: new_id(),
        account_type: AccountKind::User.as_str().into(),
        name: name.into_inner(),
        email: Some(email.into_inner()),
        password_hash: password_hash.map(HashedPassword::into_inner),
        tenant_id: None,
        created_at: now,
        created_by: actor.account_id().map(ToString::to_string),
    };
    account.insert(conn).map_err(on_unique_violation(|| {
        AppError::Conflict(format!(
            "an account with the email {} already exists",
            account.email.as_deref().unwrap_or_default()
        ))
    }))?;
    audit::record(
        conn,
        actor,
        now,
        Event {
            tenant_id: None,
            action: AuditAction::AccountCreated,
            target_id: Some(&account.id),
            detail: format!(
                "person {} <{}>",
                account.name,
                account.email.as_deref().unwrap_or_default()
            ),
        },
    )?;
    Ok(account)
}

pub fn find(conn: &mut DbConnection, id: &AccountId) -> Result<Account, AppError> {
    Account::find(conn, id.as_str())?.ok_or_else(|| AppError::not_found("account not found"))
}

/// Finds an account by email or by id (the CLI accepts either).
pub fn find_by_email_or_id(
    conn: &mut DbConnection,
    email_or_id: &str,
) -> Result<Account, AppError> {
    let found = if email_or_id.contains('@') {
        Account::find_by_email(conn, &email_or_id.trim().to_lowercase())?
    } else {
        Account::find(conn, &email_or_id.trim().to_lowercase())?
    };
    found
        .ok_or_else(|| AppError::not_found(format!("no account has the email or id {email_or_id}")))
}

/// Changes the actor's own password, blocking (argon2) on this thread: `begin_password_change`,
/// `verify_password`, `finish_password_change`. For the command line and tests; the server
/// runs the same steps around `passwords::verify_bounded` and `hash_bounded`, holding no
/// connection while it hashes.
pub fn change_own_password(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    current: &Password,
    new: &Password,
    keep_session_digest: Option<&str>,
) -> Result<(), AppError> {
    let pending = begin_password_change(conn, actor, now)?;
    let verified = verify_password(&pending.hash, current);
    let new = verified.then(|| HashedPassword::of(new)).transpose()?;
    finish_password_change(conn, actor, now, pending, new, keep_session_digest)
}

/// A password change whose attempt is counted and whose current password is still to be
/// checked against `hash`, without a database connection.
/// No Debug: it holds a password hash.
pub struct PendingPasswordChange {
    attempt: sign_in::Attempt,
    account_id: AccountId,
    /// The stored hash of the current password.
    pub hash: String,
}

/// Refuses callers that may not change a password (service accounts, read-only keys) and
/// a locked email or address; counts the attempt like a sign-in from a new client (same
/// limits, `guess_limits`).
pub fn begin_password_change(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
) -> Result<PendingPasswordChange, AppError> {
    let account_id = require_credential_change(actor)?;
    let account = find(conn, &account_id)?;
    let hash = account
        .password_hash
        .clone()
        .ok_or_else(|| AppError::invalid("current_password", "this account has no password"))?;
    let email = sign_in::normalise_email(account.email.as_deref().unwrap_or_default())?;
    // Counted as a new client's guess: a session or key is no device cookie.
    let ip = actor.ip.as_deref().unwrap_or("unknown");
    let attempt = sign_in::begin_attempt(conn, now, &email, Some(&account), ip, None)?;
    Ok(PendingPasswordChange {
        attempt,
        account_id: account.account_id(),
        hash,
    })
}

/// `new` is the new password's hash when the current password was right, `None` when it
/// was wrong: then the refusal is audited and the counted failure stays. Otherwise stores
/// the hash and ends every other session of the account (`keep_session_digest` is the one
/// making the change).
pub fn finish_password_change(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    pending: PendingPasswordChange,
    new: Option<HashedPassword>,
    keep_session_digest: Option<&str>,
) -> Result<(), AppError> {
    let PendingPasswordChange {
        attempt,
        account_id,
        ..
    } = pending;
    let Some(new_hash) = new else {
        audit::record(
            conn,
            actor,
            now,
            Event {
                tenant_id: actor.bound_tenant().map(TenantId::as_str),
                action: AuditAction::PasswordChangeRefused,
                target_id: Some(account_id.as_str()),
                detail: "wrong current password".into(),
            },
        )?;
        return Err(AppError::invalid(
            "current_password",
            "is not your current password",
        ));
    };
    attempt.succeeded(conn)?;
    let new_hash = new_hash.into_inner();
    transaction(conn, |conn| {
        Account::set_password_hash(conn, account_id.as_str(), &new_hash)?;
        match keep_session_digest {
            Some(keep) => SessionRow::delete_others_of_account(conn, account_id.as_str(), keep)?,
            None => SessionRow::delete_all_of_account(conn, account_id.as_str())?,
        };
        crate::services::two_factor::end_pending_sign_ins(conn, &account_id)?;
        audit::record(
            conn,
            actor,
            now,
            Event {
                tenant_id: None,
                action: AuditAction::PasswordChanged,
                target_id: Some(account_id.as_str()),
                detail: "password changed; other sessions ended".into(),
            },
        )
    })
}
