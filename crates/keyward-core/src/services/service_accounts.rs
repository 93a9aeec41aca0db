//! Service accounts: machine identities that belong to exactly one tenant, managed by its
//! admins. Removing one deletes all its keys at once, each audited.

use crate::db::models::{key_lineage, Account, ApiKey, Membership};
use crate::db::{lock_tenant, DbConnection};
use crate::domain::quotas::{QuotaSetting, Quotas};
use crate::domain::{new_id, AccountId, AccountKind, AuditAction, PersonName, Role, TenantId};
use crate::error::AppError;
use crate::services::audit::{self, Event};
use crate::services::permissions::{self, Permission};
use crate::services::{api_keys, transaction, Actor};
use time::PrimitiveDateTime;

#[derive(Debug, Clone)]
pub struct ServiceAccount {
    pub account: Account,
    pub key_count: i64,
    pub creator_name: Option<String>,
    /// Its role in its tenant: what its keys may do there.
    pub role: Option<Role>,
}

/// `create_service_account_within` the default quotas (for operators' scripts and tests).
pub fn create_service_account(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    tenant_id: &TenantId,
    name: PersonName,
) -> Result<Account, AppError> {
    create_service_account_within(
        conn,
        actor,
        now,
        tenant_id,
        name,
        Role::Admin,
        &Quotas::default(),
    )
}

/// Creates a service account with `role` in its tenant (ADMIN unless chosen otherwise,
/// as Prefect documents), refused when the tenant has `max_service_accounts_per_tenant`
/// or another service account of that name.
pub fn create_service_account_within(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    tenant_id: &TenantId,
    name: PersonName,
    role: Role,
    quotas: &Quotas,
) -> Result<Account, AppError> {
    transaction(conn, |conn| {
        permissions::require(conn, actor, tenant_id, Permission::ManageServiceAccounts)?;
        lock_tenant(conn, tenant_id.as_str())?;
        let limit = quotas.max_service_accounts_per_tenant;
        if Account::count_service_accounts_of(conn, tenant_id.as_str())? >= limit {
            return Err(AppError::Conflict(format!(
                "this tenant already has {limit} service accounts, the limit set by {}; remove one first",
                QuotaSetting::SERVICE_ACCOUNTS.describe()
            )));
        }
        ensure_name_free(conn, tenant_id.as_str(), name.as_str(), None)?;
        let account = Account {
            id: new_id(),
            account_type: AccountKind::ServiceAccount.as_str().into(),
            name: name.into_inner(),
            email: None,
            password_hash: None,
            tenant_id: Some(tenant_id.to_string()),
            created_at: now,
            created_by: actor.account_id().map(ToString::to_string),
        };
        account.insert(conn)?;
        if let Some(key_id) = actor.key_id() {
            key_lineage::set_account_created_by_key(conn, &account.id, key_id.as_str())?;
        }
        Membership {
            account_id: account.id.clone(),
            tenant_id: tenant_id.to_string(),
            role: role.as_str().into(),
            created_at: now,
        }
        .insert(conn)?;
        audit::record(
            conn,
            actor,
            now,
            Event {
                tenant_id: Some(tenant_id.as_str()),
                action: AuditAction::ServiceAccountCreated,
                target_id: Some(&account.id),
                detail: format!(
                    "service account \"{}\" with the {} role",
                    account.name,
                    role.as_str()
                ),
            },
        )?;
        crate::services::webhooks::enqueue_event(
            conn,
            now,
            tenant_id,
            crate::services::webhooks::WebhookEvent::ServiceAccountCreated,
            serde_json::json!({ "id": account.id, "name": account.name, "tenant_id": tenant_id, "role": role.as_str() }),
        )?;
        Ok(account)
    })
}

/// Service-account names are unique per tenant, checked under the tenant's lock (no
/// unique index: older databases may hold duplicates; docs/DECISIONS.md).
fn ensure_name_free(
    conn: &mut DbConnection,
    tenant_id: &str,
    name: &str,
    except_id: Option<&str>,
) -> Result<(), AppError> {
    if key_lineage::service_account_name_taken(conn, tenant_id, name, except_id)? {
        return Err(AppError::invalid(
            "name",
            format!(
                "this tenant already has a service account named \"{name}\"; choose another name"
            ),
        ));
    }
    Ok(())
}

/// Finds a service account and checks the actor administers its tenant. `in_tenant`
/// narrows the search to one tenant (a team page acts only on the tenant in its URL).
pub fn find_managed(
    conn: &mut DbConnection,
    actor: &Actor,
    in_tenant: Option<&TenantId>,
    id: &AccountId,
) -> Result<Account, AppError> {
    let account = Account::find(conn, id.as_str())?
        .filter(Account::is_service_account)
        .filter(|a| in_tenant.is_none_or(|t| a.tenant_id.as_deref() == Some(t.as_str())))
        .ok_or_else(|| AppError::not_found("service account not found"))?;
    let tenant_id = TenantId::from_stored(account.tenant_id.clone().unwrap_or_default());
    // Outside the caller's tenants it does not exist: FORBIDDEN would say it does.
    permissions::access(conn, actor, &tenant_id)
        .map_err(|_| AppError::not_found("service account not found"))?;
    permissions::require(conn, actor, &tenant_id, Permission::ManageServiceAccounts)?;
    Ok(account)
}

pub fn get_service_account(
    conn: &mut DbConnection,
    actor: &Actor,
    in_tenant: Option<&TenantId>,
    id: &AccountId,
) -> Result<ServiceAccount, AppError> {
    let account = find_managed(conn, actor, in_tenant, id)?;
    describe(conn, account)
}

fn describe(conn: &mut DbConnection, account: Account) -> Result<ServiceAccount, AppError> {
    let key_count = ApiKey::count_of_account(conn, &account.id)?;
    let creator_name = match account.created_by.as_deref() {
        Some(c) => Account::find(conn, c)?.map(|a| a.name),
        None => None,
    };
    let role = Membership::tenants_of(conn, &account.id)?
        .first()
        .and_then(|(_, m)| m.role());
    Ok(ServiceAccount {
        account,
        key_count,
        creator_name,
        role,
    })
}

pub fn list_service_accounts(
    conn: &mut DbConnection,
    actor: &Actor,
    tenant_id: &TenantId,
) -> Result<Vec<ServiceAccount>, AppError> {
    permissions::require(conn, actor, tenant_id, Permission::ManageServiceAccounts)?;
    Account::service_accounts_of(conn, tenant_id.as_str())?
        .into_iter()
        .map(|a| describe(conn, a))
        .collect()
}

pub fn rename_service_account(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    in_tenant: Option<&TenantId>,
    id: &AccountId,
    name: PersonName,
) -> Result<Account, AppError> {
    transaction(conn, |conn| {
        let mut account = find_managed(conn, actor, in_tenant, id)?;
        let tenant_id = TenantId::from_stored(account.tenant_id.clone().unwrap_or_default());
        lock_tenant(conn, tenant_id.as_str())?;
        ensure_name_free(conn, tenant_id.as_str(), name.as_str(), Some(&account.id))?;
        let old = std::mem::replace(&mut account.name, name.into_inner());
        Account::rename(conn, &account.id, &account.name)?;
        audit::record(
            conn,
            actor,
            now,
            Event {
                tenant_id: account.tenant_id.as_deref(),
                action: AuditAction::ServiceAccountRenamed,
                target_id: Some(&account.id),
                detail: format!("\"{old}\" → \"{}\"", account.name),
            },
        )?;
        Ok(account)
    })
}

/// Removes a service account: all its keys stop working at once.
pub fn remove_service_account(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    in_tenant: Option<&TenantId>,
    id: &AccountId,
) -> Result<ServiceAccount, AppError> {
    transaction(conn, |conn| {
        let account = find_managed(conn, actor, in_tenant, id)?;
        delete_audited(conn, actor, now, account, "")
    })
}

/// Deletes a service account, its keys (each audited) and its membership, and audits
/// the removal; `why` is appended to the audit line. Permission is the caller's.
pub(crate) fn delete_audited(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    account: Account,
    why: &str,
) -> Result<ServiceAccount, AppError> {
    let described = describe(conn, account.clone())?;
    for key in ApiKey::of_account(conn, &account.id, None)? {
        api_keys::delete_key_audited(conn, actor, now, &key, "deleted with its service account")?;
    }
    let tenant_id = TenantId::from_stored(account.tenant_id.clone().unwrap_or_default());
    Membership::delete(conn, &account.id, tenant_id.as_str())?;
    Account::delete(conn, &account.id)?;
    audit::record(
        conn,
        actor,
        now,
        Event {
            tenant_id: Some(tenant_id.as_str()),
            action: AuditAction::ServiceAccountRemoved,
            target_id: Some(&account.id),
            detail: format!(
                "service account \"{}\" and its {} key(s){why}",
                account.name, described.key_count
            ),
        },
    )?;
    crate::services::webhooks::enqueue_event(
        conn,
        now,
        &tenant_id,
        crate::services::webhooks::WebhookEvent::ServiceAccountRemoved,
        serde_json::json!({ "id": account.id, "name": account.name, "tenant_id": tenant_id }),
    )?;
    Ok(described)
}
