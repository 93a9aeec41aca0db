//! People: created by operators (or first-run setup, or an invitation), and their own
//! password changes.

use crate::db::models::{Account, SessionRow};
use crate::db::DbConnection;
use crate::domain::{new_id, AccountKind, Email, Password, PersonName};
use crate::error::{is_unique_violation, AppError};
use crate::services::audit::{self, Event};
use crate::services::passwords::{hash_password, verify_password};
use crate::services::permissions::{require_credential_change, require_operator};
use crate::services::sign_in;
use crate::services::{transaction, Actor};
use time::PrimitiveDateTime;

/// Creates a person. Hashes the password before the transaction opens.
pub fn create_user(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    email: Email,
    name: PersonName,
    password: &Password,
) -> Result<Account, AppError> {
    require_operator(actor, "creating people accounts")?;
    let hash = hash_password(password)?;
    transaction(conn, |conn| {
        insert_user(conn, actor, now, email, name, hash)
    })
}

pub(crate) fn insert_user(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    email: Email,
    name: PersonName,
    password_hash: String,
) -> Result<Account, AppError> {
    let account = Account {
        id: new_id(),
        account_type: AccountKind::User.as_str().into(),
        name: name.into_inner(),
        email: Some(email.into_inner()),
        password_hash: Some(password_hash),
        tenant_id: None,
        created_at: now,
        created_by: actor.account_id().map(str::to_string),
    };
    account.insert(conn).map_err(|e| {
        if is_unique_violation(&e) {
            AppError::Conflict(format!(
                "an account with the email {} already exists",
                account.email.as_deref().unwrap_or_default()
            ))
        } else {
            e.into()
        }
    })?;
    audit::record(
        conn,
        actor,
        now,
        Event {
            tenant_id: None,
            action: "account.created",
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

pub fn find(conn: &mut DbConnection, id: &str) -> Result<Account, AppError> {
    Account::find(conn, id)?.ok_or_else(|| AppError::not_found("account not found"))
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

/// Changes the actor's own password; the current one is required, and a wrong one counts
/// as a failed sign-in (same table, same lockout) and is audited. Ends every other session
/// of the account (`keep_session_digest` is the one making the change). Blocking (argon2):
/// the password checks run outside the transaction.
pub fn change_own_password(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    current: &Password,
    new: &Password,
    keep_session_digest: Option<&str>,
) -> Result<(), AppError> {
    let account_id = require_credential_change(actor)?;
    let account = find(conn, &account_id)?;
    let hash = account
        .password_hash
        .as_deref()
        .ok_or_else(|| AppError::invalid("current_password", "this account has no password"))?;
    let email = sign_in::normalise_email(account.email.as_deref().unwrap_or_default())?;
    let attempt =
        sign_in::begin_attempt(conn, now, &email, actor.ip.as_deref().unwrap_or("unknown"))?;
    if !verify_password(hash, current) {
        audit::record(
            conn,
            actor,
            now,
            Event {
                tenant_id: actor.bound_tenant(),
                action: "account.password_change_refused",
                target_id: Some(&account.id),
                detail: "wrong current password".into(),
            },
        )?;
        return Err(AppError::invalid(
            "current_password",
            "is not your current password",
        ));
    }
    attempt.succeeded(conn)?;
    let new_hash = hash_password(new)?;
    transaction(conn, |conn| {
        Account::set_password_hash(conn, &account.id, &new_hash)?;
        match keep_session_digest {
            Some(keep) => SessionRow::delete_others_of_account(conn, &account.id, keep)?,
            None => SessionRow::delete_all_of_account(conn, &account.id)?,
        };
        audit::record(
            conn,
            actor,
            now,
            Event {
                tenant_id: None,
                action: "account.password_changed",
                target_id: Some(&account.id),
                detail: "password changed; other sessions ended".into(),
            },
        )
    })
}
