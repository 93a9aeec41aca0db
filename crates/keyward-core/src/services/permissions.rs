//! The permission service: the one place that decides the matrix of DESIGN §2. The
//! dashboard and GraphQL reach it only through the other services, so they cannot disagree.
//!
//! Through an API key every action stays inside the key's tenant. The role is read here,
//! from the membership, on every call, for keys as for signed-in people: services call
//! this inside the transaction that makes their change, so a member demoted or removed
//! after the key was authenticated (earlier in the same request) is refused, and the
//! decision and the change see one state of the database.

use crate::db::models::{Account, ApiKey, Membership};
use crate::db::DbConnection;
use crate::domain::{AccountId, AccountKind, Role, TenantId};
use crate::error::AppError;
use crate::services::actor::ActorKind;
use crate::services::{Actor, Principal};

/// A row of the matrix that is decided per tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Create, list and revoke your own keys in the tenant: any member.
    UseOwnKeys,
    /// Create, list and revoke keys of the tenant's service accounts: admins.
    ManageServiceAccountKeys,
    /// Create, rename, remove service accounts: admins.
    ManageServiceAccounts,
    /// List members: admins.
    ListMembers,
    /// Invite people, remove members, change roles: human admins only.
    ManagePeople,
    /// Read the audit log: admins.
    ReadAuditLog,
    /// Set the tenant's key policy (max lifetime, expiry required): admins.
    ManageKeyPolicy,
    /// Revoke a key of the tenant by its value, found leaked (Team › Security): admins.
    RevokeFoundKeys,

    /// Create, change, delete the tenant's webhooks and read their deliveries: admins.
    ManageWebhooks,
}

impl Permission {
    fn describe(self) -> &'static str {
        match self {
            Permission::UseOwnKeys => "using API keys in this tenant",
            Permission::ManageServiceAccountKeys => "managing service-account keys",
            Permission::ManageServiceAccounts => "managing service accounts",
            Permission::ListMembers => "listing members",
            Permission::ManagePeople => "managing members and invitations",
            Permission::ReadAuditLog => "reading the audit log",
            Permission::ManageKeyPolicy => "setting the tenant's key policy",
            Permission::RevokeFoundKeys => "revoking a found key",

            Permission::ManageWebhooks => "managing the tenant's webhooks",
        }
    }

    fn needs_admin(self) -> bool {
        !matches!(self, Permission::UseOwnKeys)
    }
}

/// Proof that the actor may act in a tenant, with the role it holds there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantAccess {
    pub tenant_id: TenantId,
    /// `None` for operators, who act from outside every tenant.
    pub role: Option<Role>,
}

impl TenantAccess {
    pub fn is_admin(&self) -> bool {
        self.role.is_none_or(Role::is_admin)
    }
}

/// The actor's standing in a tenant: FORBIDDEN when it is not a member, or when an API
/// key of another tenant asks.
/// Said to a session not opened through the provider, in a tenant that requires it.
pub const SSO_REQUIRED_HERE: &str = "this tenant requires single sign-on: sign in through the identity provider (the button on the sign-in page) to work in it";

pub fn access(
    conn: &mut DbConnection,
    actor: &Actor,
    tenant_id: &TenantId,
) -> Result<TenantAccess, AppError> {
    let role = match &actor.kind {
        ActorKind::Operator => None,
        ActorKind::ApiKey(p) => {
            if &p.tenant_id != tenant_id {
                return Err(AppError::forbidden(
                    "this API key works only in its own tenant; use a key created for the other tenant",
                ));
            }
            Some(current_key_role(conn, p)?)
        }
        ActorKind::Person { account_id } => {
            match Membership::find(conn, account_id.as_str(), tenant_id.as_str())? {
                Some(_)
                    if actor.outside_sso
                        && crate::db::models::oidc::TenantSsoRequirement::is_required(
                            conn,
                            tenant_id.as_str(),
                        )? =>
                {
                    return Err(AppError::forbidden(SSO_REQUIRED_HERE));
                }
                Some(m) => Some(known_role(&m)?),
                None => return Err(AppError::forbidden("you are not a member of this tenant")),
            }
        }
    };
    Ok(TenantAccess {
        tenant_id: tenant_id.clone(),
        role,
    })
}

/// The role of a key's account in the key's tenant as the database says now, not as the
/// key's authentication read it: never more than either (a key's principal may carry a
/// lower role than the membership, never a higher one).
fn current_key_role(conn: &mut DbConnection, p: &Principal) -> Result<Role, AppError> {
    let Some(membership) = Membership::find(conn, p.account_id().as_str(), p.tenant_id().as_str())?
    else {
        return Err(AppError::forbidden(
            "this API key's account is no longer a member of the key's tenant",
        ));
    };
    let rank = |role: Role| Role::ALL.iter().position(|&r| r == role);
    Ok(std::cmp::max_by_key(
        known_role(&membership)?,
        p.role()?,
        |&r| rank(r),
    ))
}

/// A member's role, if this version knows it. One it does not (written by a newer
/// version during a rolling upgrade) allows nothing: refused like a missing permission.
pub fn known_role(membership: &Membership) -> Result<Role, AppError> {
    membership.role().ok_or_else(|| {
        AppError::forbidden(format!(
            "the role \"{}\" held in this tenant is not one this version of Keyward knows, so it allows nothing here; an admin of the tenant can set the role again",
            membership.role
        ))
    })
}

/// Decides one row of the matrix for one tenant.
pub fn require(
    conn: &mut DbConnection,
    actor: &Actor,
    tenant_id: &TenantId,
    permission: Permission,
) -> Result<TenantAccess, AppError> {
    let access = access(conn, actor, tenant_id)?;
    if permission == Permission::ManagePeople && actor.is_service_account() {
        return Err(AppError::forbidden(
            "service accounts cannot manage people: members, roles and invitations are managed by human admins",
        ));
    }
    if permission.needs_admin() && !access.is_admin() {
        return Err(AppError::forbidden(format!(
            "{} needs the Admin role in this tenant; your role is {}",
            permission.describe(),
            access.role.map(Role::label).unwrap_or("none"),
        )));
    }
    Ok(access)
}

/// The "read-only keys only read" row. Every change a service makes is audited inside its
/// transaction, and `audit::record` asks this first, so no change made through a
/// read-only key can commit, whichever service made it and whatever it forgot to ask.
pub fn require_writable(actor: &Actor) -> Result<(), AppError> {
    if actor.is_read_only() {
        return Err(AppError::forbidden(
            "this API key is read-only: it can run queries but no mutation; use a key that is not read-only",
        ));
    }
    Ok(())
}

/// Whether the actor holds a permission in a tenant, for lists that include what an
/// admin may see and for showing or hiding links.
pub fn allows(
    conn: &mut DbConnection,
    actor: &Actor,
    tenant_id: &TenantId,
    permission: Permission,
) -> Result<bool, AppError> {
    match require(conn, actor, tenant_id, permission) {
        Ok(_) => Ok(true),
        Err(AppError::Forbidden(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Operator-only rows: creating and deleting tenants, creating people, adding members
/// directly.
pub fn require_operator(actor: &Actor, what: &str) -> Result<(), AppError> {
    if actor.is_operator() {
        Ok(())
    } else {
        Err(AppError::forbidden(format!(
            "{what} is done by operators with `keyward admin`"
        )))
    }
}

/// The "change your own password" row: a signed-in person, or a person's own key (with
/// the current password, checked by the caller). A service account's key is refused: it
/// holds no password, and a leaked one must not become a way to guess one. Keys that may
/// not change credentials (read-only keys) are refused in this same
/// match (`require_writable`), so no caller has to remember to.
pub fn require_credential_change(actor: &Actor) -> Result<AccountId, AppError> {
    require_writable(actor)?;
    match &actor.kind {
        ActorKind::Person { account_id } => Ok(account_id.clone()),
        ActorKind::ApiKey(p) if p.account_kind == AccountKind::User => Ok(p.account_id.clone()),
        ActorKind::ApiKey(_) => Err(AppError::forbidden(
            "a service account's key cannot change a password; use a person's own key or the dashboard",
        )),
        ActorKind::Operator => Err(AppError::forbidden(
            "changing a password is done by the signed-in person themselves",
        )),
    }
}

fn not_yours() -> AppError {
    AppError::forbidden(
        "you can create API keys only for yourself or for a service account of a tenant you administer",
    )
}

/// The "create a key" rows: for yourself in any tenant you belong to; for a service
/// account of a tenant you administer; for another person, nobody (operators excepted,
/// for bootstrap). Returns the tenant the key will serve. `target` is `None` when no
/// account has the id asked for, which is refused like any account you may not serve.
pub fn authorize_key_creation(
    conn: &mut DbConnection,
    actor: &Actor,
    target: Option<&Account>,
    requested_tenant: Option<&TenantId>,
) -> Result<TenantId, AppError> {
    if let (Some(bound), Some(asked)) = (actor.bound_tenant(), requested_tenant) {
        if bound != asked {
            return Err(AppError::forbidden(
                "this API key works only in its own tenant; tenant_id must be the key's tenant or left out",
            ));
        }
    }
    let Some(target) = target else {
        return Err(if actor.is_operator() {
            AppError::not_found("no account has that id")
        } else {
            not_yours()
        });
    };
    match target.kind() {
        AccountKind::ServiceAccount => {
            let own = TenantId::from_stored(target.tenant_id.clone().unwrap_or_default());
            if actor.is(&target.id) {
                require(conn, actor, &own, Permission::UseOwnKeys)?;
            } else {
                // Outside the tenant, say nothing about its service accounts.
                access(conn, actor, &own).map_err(|_| not_yours())?;
                require(conn, actor, &own, Permission::ManageServiceAccountKeys)?;
            }
            if requested_tenant.is_some_and(|t| t != &own) {
                return Err(AppError::invalid(
                    "tenant_id",
                    "a service account's keys serve only its own tenant; leave tenant_id out",
                ));
            }
            Ok(own)
        }
        AccountKind::User => {
            let tenant = requested_tenant
                .or(actor.bound_tenant())
                .cloned()
                .ok_or_else(|| {
                    AppError::invalid("tenant_id", "choose the tenant the key is for")
                })?;
            if actor.is_operator() {
                if Membership::find(conn, &target.id, tenant.as_str())?.is_none() {
                    return Err(AppError::invalid(
                        "tenant",
                        "that account is not a member of the tenant; add it first with `keyward admin add-member`",
                    ));
                }
            } else if actor.is(&target.id) {
                require(conn, actor, &tenant, Permission::UseOwnKeys)?;
            } else {
                return Err(not_yours());
            }
            Ok(tenant)
        }
    }
}

/// The "revoke" rows: your own keys; service-account keys of a tenant you administer;
/// through an API key, only keys of its tenant. Everything else is "not found" to the
/// caller, so nobody learns that someone else's key exists.
pub fn may_revoke_key(
    conn: &mut DbConnection,
    actor: &Actor,
    key: &ApiKey,
) -> Result<bool, AppError> {
    if actor.bound_tenant().is_some_and(|t| *t != key.tenant_id) {
        return Ok(false);
    }
    // Rotating one's own key makes a new secret: not from a session outside single
    // sign-on, in a tenant that requires it (`access` is not asked for one's own keys).
    if actor.outside_sso
        && crate::db::models::oidc::TenantSsoRequirement::is_required(conn, &key.tenant_id)?
    {
        return Ok(false);
    }
    if actor.is_operator() || actor.is(&key.account_id) {
        return Ok(true);
    }
    let owner_is_service_account =
        Account::find(conn, &key.account_id)?.is_some_and(|a| a.is_service_account());
    Ok(owner_is_service_account
        && allows(
            conn,
            actor,
            &key.tenant(),
            Permission::ManageServiceAccountKeys,
        )?)
}

/// Whether the actor may remove this service account now (admins of its tenant).
pub fn may_remove_service_account(
    conn: &mut DbConnection,
    actor: &Actor,
    account: &Account,
) -> Result<bool, AppError> {
    let Some(tenant_id) = account.own_tenant() else {
        return Ok(false);
    };
    if actor.bound_tenant().is_some_and(|t| *t != tenant_id) {
        return Ok(false);
    }
    allows(conn, actor, &tenant_id, Permission::ManageServiceAccounts)
}
