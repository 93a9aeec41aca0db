//! Tenant key policy (issue 14): admins cap how long new keys may live and whether they
//! must expire. New keys beyond it are refused by `api_keys`; existing keys beyond a new
//! limit are listed for the admin, not cut.

use crate::db::models::key_lineage;
use crate::db::models::key_policy::TenantKeyPolicy;
use crate::db::models::ApiKey;
use crate::db::DbConnection;
use crate::domain::KeyPolicy;
use crate::domain::{AuditAction, TenantId};
use crate::error::AppError;
use crate::services::audit::{self, Event};
use crate::services::permissions::{self, Permission};
use crate::services::{transaction, Actor};
use time::PrimitiveDateTime;

/// At most this many keys beyond the policy are listed (the latest expiring first).
const MAX_LISTED: i64 = 1_000;

/// A key of the tenant that a key created now could not be, with its owner's name.
#[derive(Debug, Clone)]
pub struct KeyBeyondPolicy {
    pub key: ApiKey,
    pub owner_name: String,
}

/// The policy and the tenant's live keys that a key created now could not be.
#[derive(Debug)]
pub struct PolicyReport {
    pub policy: KeyPolicy,
    pub keys_beyond: Vec<KeyBeyondPolicy>,
}

/// The tenant's policy: any member may read it (the create dialog offers only what it
/// allows).
pub fn tenant_key_policy(
    conn: &mut DbConnection,
    actor: &Actor,
    tenant_id: &TenantId,
) -> Result<KeyPolicy, AppError> {
    permissions::access(conn, actor, tenant_id)?;
    Ok(TenantKeyPolicy::of(conn, tenant_id.as_str())?)
}

/// The policy with the keys beyond it; admins only.
pub fn policy_report(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    tenant_id: &TenantId,
) -> Result<PolicyReport, AppError> {
    permissions::require(conn, actor, tenant_id, Permission::ManageKeyPolicy)?;
    let policy = TenantKeyPolicy::of(conn, tenant_id.as_str())?;
    Ok(PolicyReport {
        keys_beyond: keys_beyond(conn, tenant_id, now, policy)?,
        policy,
    })
}

/// Sets the policy (admins), audited; answers with the keys beyond it.
pub fn set_tenant_key_policy(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    tenant_id: &TenantId,
    policy: KeyPolicy,
) -> Result<PolicyReport, AppError> {
    transaction(conn, |conn| {
        permissions::require(conn, actor, tenant_id, Permission::ManageKeyPolicy)?;
        let old = TenantKeyPolicy::of(conn, tenant_id.as_str())?;
        TenantKeyPolicy::store(conn, tenant_id.as_str(), policy, now)?;
        audit::record(
            conn,
            actor,
            now,
            Event {
                tenant_id: Some(tenant_id.as_str()),
                action: AuditAction::KeyPolicyChanged,
                target_id: Some(tenant_id.as_str()),
                detail: format!("key policy: {} → {}", old.describe(), policy.describe()),
            },
        )?;
        Ok(PolicyReport {
            keys_beyond: keys_beyond(conn, tenant_id, now, policy)?,
            policy,
        })
    })
}

/// Live keys of the tenant (every owner's) that never expire or expire later than a
/// key created now may: with no limit, none.
fn keys_beyond(
    conn: &mut DbConnection,
    tenant_id: &TenantId,
    now: PrimitiveDateTime,
    policy: KeyPolicy,
) -> Result<Vec<KeyBeyondPolicy>, AppError> {
    if !policy.require_expiry() {
        return Ok(Vec::new());
    }
    let rows = key_lineage::keys_beyond(
        conn,
        tenant_id.as_str(),
        policy.latest_expiry(now),
        MAX_LISTED,
    )?;
    Ok(rows
        .into_iter()
        .map(|(key, owner_name)| KeyBeyondPolicy { key, owner_name })
        .collect())
}
