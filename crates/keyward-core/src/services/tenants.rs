//! Tenants: created and deleted by operators.

use crate::db::models::{Account, ApiKey, Invitation, Membership, Tenant};
use crate::db::DbConnection;
use crate::domain::{new_id, AuditAction, TenantId, TenantName, TenantSlug};
use crate::error::{on_unique_violation, AppError};
use crate::services::audit::{self, Event};
use crate::services::permissions::require_operator;
use crate::services::{api_keys, transaction, Actor};
use time::PrimitiveDateTime;

pub fn create_tenant(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    name: TenantName,
    slug: TenantSlug,
) -> Result<Tenant, AppError> {
    require_operator(actor, "creating tenants")?;
    transaction(conn, |conn| insert_tenant(conn, actor, now, name, slug))
}

/// Inserts a tenant inside the caller's transaction (also used by first-run setup).
pub(crate) fn insert_tenant(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    name: TenantName,
    slug: TenantSlug,
) -> Result<Tenant, AppError> {
    let tenant = Tenant {
        id: new_id(),
        name: name.into_inner(),
        slug: slug.into_inner(),
        created_at: now,
    };
    tenant.insert(conn).map_err(on_unique_violation(|| {
        AppError::Conflict(format!(
            "a tenant with the slug \"{}\" already exists; choose another slug",
            tenant.slug
        ))
    }))?;
    audit_tenant(conn, actor, now, &tenant, AuditAction::TenantCreated)?;
    Ok(tenant)
}

/// Audits `action` on the tenant, named by its name and slug.
fn audit_tenant(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    tenant: &Tenant,
    action: AuditAction,
) -> Result<(), AppError> {
    audit::record(
        conn,
        actor,
        now,
        Event {
            tenant_id: Some(&tenant.id),
            action,
            target_id: Some(&tenant.id),
            detail: format!("tenant \"{}\" ({})", tenant.name, tenant.slug),
        },
    )
}

pub fn find_by_slug(conn: &mut DbConnection, slug: &str) -> Result<Tenant, AppError> {
    Tenant::find_by_slug(conn, slug)?
        .ok_or_else(|| AppError::not_found(format!("no tenant has the slug \"{slug}\"")))
}

/// The one tenant an API key serves (what `tenant` answers through GraphQL).
pub fn own_tenant(conn: &mut DbConnection, actor: &Actor) -> Result<Tenant, AppError> {
    let id = actor
        .bound_tenant()
        .ok_or_else(|| AppError::unauthenticated("an API key is needed"))?
        .clone();
    crate::services::permissions::access(conn, actor, &id)?;
    find(conn, &id)
}

pub fn find(conn: &mut DbConnection, id: &TenantId) -> Result<Tenant, AppError> {
    Tenant::find(conn, id.as_str())?.ok_or_else(|| AppError::not_found("tenant not found"))
}

/// Deletes a tenant and everything in it: each key is deleted and audited first, then
/// invitations, memberships and service accounts.
pub fn delete_tenant(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    slug: &str,
) -> Result<Tenant, AppError> {
    require_operator(actor, "deleting tenants")?;
    transaction(conn, |conn| {
        let tenant = find_by_slug(conn, slug)?;
        for key in ApiKey::ids_of_tenant(conn, &tenant.id)? {
            api_keys::delete_key_audited(conn, actor, now, &key, "deleted with its tenant")?;
        }
        Invitation::delete_all_of_tenant(conn, &tenant.id)?;
        crate::db::models::OutboxRow::delete_all_of_tenant(conn, &tenant.id)?;
        Membership::delete_all_of_tenant(conn, &tenant.id)?;
        for sa in Account::service_accounts_of(conn, &tenant.id)? {
            Account::delete(conn, &sa.id)?;
        }
        Tenant::delete(conn, &tenant.id)?;
        audit_tenant(conn, actor, now, &tenant, AuditAction::TenantDeleted)?;
        Ok(tenant)
    })
}
