//! Browser sessions (DESIGN §1): stored by the SHA-256 of their id, never the id; ended
//! after an idle and an absolute timeout measured on the injected clock; and who is signed
//! in, re-read from the database on every request so a removed account or membership
//! counts at once, on every instance.

use crate::db::models::session::SessionChanges;
use crate::db::models::{Account, Membership, SessionRow, Tenant};
use crate::db::DbConnection;
use crate::domain::api_key::random_secret;
use crate::domain::{AccountId, Role, TenantId, TokenDigest};
use crate::error::AppError;
use crate::services::permissions::{self, Permission};
use crate::services::Actor;
use time::{Duration, PrimitiveDateTime};

/// A session unused for this long ends.
pub const IDLE_TIMEOUT: Duration = Duration::hours(2);
/// A session ends this long after sign-in, however busy.
pub const ABSOLUTE_TIMEOUT: Duration = Duration::hours(12);
/// `last_seen_at` is written at most this often, not on every request.
const TOUCH_EVERY: Duration = Duration::minutes(1);

/// What a session carries; `state` is a JSON object of everything else. `Debug` leaves
/// out the CSRF token.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionData {
    pub account_id: String,
    pub csrf_token: String,
    pub tenant_id: Option<String>,
    pub state: String,
    /// When the person signed in. A session saved under a new id (after a password
    /// change) keeps it, so its absolute limit does not start again.
    pub signed_in_at: Option<PrimitiveDateTime>,
}

impl std::fmt::Debug for SessionData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionData")
            .field("account_id", &self.account_id)
            .field("tenant_id", &self.tenant_id)
            .finish_non_exhaustive()
    }
}

fn digest(session_id: &str) -> String {
    TokenDigest::of(session_id).into_inner()
}

/// The live session with this id, or `None` when it is unknown or has timed out (a
/// timed-out session is deleted here).
pub fn load(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    session_id: &str,
) -> Result<Option<SessionData>, AppError> {
    let id_digest = digest(session_id);
    let Some(row) = SessionRow::find(conn, &id_digest)? else {
        return Ok(None);
    };
    if now >= row.expires_at || now >= row.last_seen_at + IDLE_TIMEOUT {
        SessionRow::delete(conn, &id_digest)?;
        return Ok(None);
    }
    if now - row.last_seen_at >= TOUCH_EVERY {
        SessionRow::touch(conn, &id_digest, now)?;
    }
    Ok(Some(SessionData {
        account_id: row.account_id,
        csrf_token: row.csrf_token,
        tenant_id: row.tenant_id,
        state: row.state,
        signed_in_at: Some(row.created_at),
    }))
}

/// Stores a new session under a fresh id (made by the caller, shown only to the browser).
pub fn create(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    session_id: &str,
    data: SessionData,
) -> Result<(), AppError> {
    let signed_in_at = data.signed_in_at.filter(|&t| t <= now).unwrap_or(now);
    SessionRow {
        id_digest: digest(session_id),
        account_id: data.account_id,
        csrf_token: data.csrf_token,
        tenant_id: data.tenant_id,
        state: data.state,
        created_at: signed_in_at,
        last_seen_at: now,
        expires_at: signed_in_at + ABSOLUTE_TIMEOUT,
    }
    .insert(conn)?;
    Ok(())
}

/// Writes a changed session. A session that ended meanwhile (signed out in another tab,
/// password changed elsewhere) stays ended: nothing is written.
pub fn update(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    session_id: &str,
    data: &SessionData,
) -> Result<(), AppError> {
    SessionRow::update(
        conn,
        &digest(session_id),
        &SessionChanges {
            account_id: &data.account_id,
            csrf_token: &data.csrf_token,
            tenant_id: data.tenant_id.as_deref(),
            state: &data.state,
            last_seen_at: now,
        },
    )?;
    Ok(())
}

/// Gives every session of the account a new CSRF token (after its role changed), so a
/// form opened before the change cannot be replayed after it.
pub fn rotate_csrf_tokens(conn: &mut DbConnection, account_id: &AccountId) -> Result<(), AppError> {
    for digest in SessionRow::digests_of_account(conn, account_id.as_str())? {
        SessionRow::set_csrf_token(conn, &digest, &random_secret(32))?;
    }
    Ok(())
}

pub fn end(conn: &mut DbConnection, session_id: &str) -> Result<(), AppError> {
    SessionRow::delete(conn, &digest(session_id))?;
    Ok(())
}

/// Deletes every session past its timeouts (the ones nobody came back to).
pub fn end_timed_out(conn: &mut DbConnection, now: PrimitiveDateTime) -> Result<usize, AppError> {
    Ok(SessionRow::delete_timed_out(conn, now, now - IDLE_TIMEOUT)?)
}

/// A tenant the signed-in person belongs to, with their role there.
#[derive(Debug, Clone)]
pub struct TenantMembership {
    pub tenant: Tenant,
    pub role: Role,
}

/// Who a session belongs to, read fresh on this request.
#[derive(Debug, Clone)]
pub struct SignedInPerson {
    pub account: Account,
    pub tenants: Vec<TenantMembership>,
    /// The session's tenant while the person is still a member of it, else their first.
    pub current: Option<TenantMembership>,
    /// Whether the permission service lets them manage the current tenant's team.
    pub manages_current_team: bool,
    /// Their tenants that require single sign-on, left out of `tenants` because this
    /// session was not opened through the provider (`Actor::outside_sso`).
    pub sso_only: Vec<TenantMembership>,
}

/// The person a session names, or `None` when the account is gone or is not a person
/// (service accounts cannot sign in). `outside_sso`: the session was not opened through
/// the OpenID provider, so tenants that require single sign-on are left out.
pub fn signed_in_person(
    conn: &mut DbConnection,
    account_id: &AccountId,
    preferred_tenant: Option<&TenantId>,
    outside_sso: bool,
) -> Result<Option<SignedInPerson>, AppError> {
    let Some(account) = Account::find(conn, account_id.as_str())? else {
        return Ok(None);
    };
    if account.is_service_account() {
        return Ok(None);
    }
    let all: Vec<TenantMembership> = Membership::tenants_of(conn, &account.id)?
        .into_iter()
        .map(|(tenant, m)| TenantMembership {
            role: m.role_shown(),
            tenant,
        })
        .collect();
    let requiring = match outside_sso {
        true => {
            crate::db::models::oidc::TenantSsoRequirement::required_of_member(conn, &account.id)?
        }
        false => Vec::new(),
    };
    let (sso_only, tenants): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|m| requiring.contains(&m.tenant.id));
    let current = preferred_tenant
        .and_then(|t| tenants.iter().find(|m| *t == m.tenant.id))
        .or_else(|| tenants.first())
        .cloned();
    let manages_current_team = match &current {
        Some(m) => permissions::allows(
            conn,
            &Actor::person(account.id.clone(), None).outside_single_sign_on(outside_sso),
            &m.tenant.tenant_id(),
            Permission::ManageServiceAccounts,
        )?,
        None => false,
    };
    Ok(Some(SignedInPerson {
        account,
        tenants,
        current,
        manages_current_team,
        sso_only,
    }))
}

/// Checks that the actor may make `tenant_id` their session's current tenant (they are a
/// member); returns the canonical id.
pub fn choose_tenant(
    conn: &mut DbConnection,
    actor: &Actor,
    tenant_id: &TenantId,
) -> Result<TenantId, AppError> {
    Ok(permissions::access(conn, actor, tenant_id)?.tenant_id)
}
