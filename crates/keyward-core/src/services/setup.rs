//! First run: while no account exists, a one-time setup token (its digest in the
//! database, so any instance accepts it) lets someone create the first tenant and admin.

use crate::db::models::sign_in::SetupToken;
use crate::db::models::{Account, Tenant};
use crate::db::DbConnection;
use crate::domain::api_key::random_secret;
use crate::domain::{AuditAction, Email, PersonName, Role, TenantName, TenantSlug, TokenDigest};
use crate::error::AppError;
use crate::services::passwords::HashedPassword;
use crate::services::{accounts, members, tenants, transaction, Actor};
use time::PrimitiveDateTime;

/// Whether first-run setup is still open (no account exists yet).
pub fn is_open(conn: &mut DbConnection) -> Result<bool, AppError> {
    Ok(!Account::any_exists(conn)?)
}

/// Issues a new setup token when no account exists; returns it to print once.
pub fn issue_token(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
) -> Result<Option<String>, AppError> {
    transaction(conn, |conn| {
        if Account::any_exists(conn)? {
            SetupToken::clear(conn)?;
            return Ok(None);
        }
        let token = random_secret(32);
        // Added, not replaced: every instance started before setup prints a link that works.
        SetupToken {
            token_digest: TokenDigest::of(&token).into_inner(),
            created_at: now,
        }
        .insert(conn)?;
        Ok(Some(token))
    })
}

pub fn token_is_valid(conn: &mut DbConnection, token: &str) -> Result<bool, AppError> {
    Ok(!Account::any_exists(conn)? && SetupToken::exists(conn, TokenDigest::of(token).as_str())?)
}

pub struct FirstRun {
    pub tenant_name: TenantName,
    pub tenant_slug: TenantSlug,
    pub email: Email,
    pub name: PersonName,
    /// Hashed before the connection is taken (`passwords::hash_bounded`).
    pub password: HashedPassword,
    /// Where the form came from, for the audit log.
    pub ip: Option<String>,
}

/// Creates the first tenant and its admin, and closes setup for good.
pub fn complete(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    token: &str,
    input: FirstRun,
) -> Result<(Tenant, Account), AppError> {
    transaction(conn, |conn| {
        // Using the token up is the gate: of two submissions racing, one deletes it.
        if Account::any_exists(conn)?
            || SetupToken::take(conn, TokenDigest::of(token).as_str())? == 0
        {
            return Err(AppError::not_found(
                "setup is closed or the setup link is not valid",
            ));
        }
        // The person setting up creates both: the audit log names them and their address.
        let operator = Actor::operator();
        let account = accounts::insert_user(
            conn,
            &operator,
            now,
            input.email,
            input.name,
            input.password,
        )?;
        let admin = Actor::person(
            account.id.clone(),
            input.ip,
            crate::services::SingleSignOn::Satisfied,
        );
        let tenant =
            tenants::insert_tenant(conn, &admin, now, input.tenant_name, input.tenant_slug)?;
        members::insert_membership(
            conn,
            &admin,
            now,
            &tenant.tenant_id(),
            &account.account_id(),
            Role::Admin,
            AuditAction::MemberAdded,
        )?;
        SetupToken::clear(conn)?;
        Ok((tenant, account))
    })
}
