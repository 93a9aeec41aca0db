//! A tenant's key policy row; a tenant without one has no limit.

use crate::db::schema::tenant_key_policies;
use crate::db::DbConnection;
use crate::domain::KeyPolicy;
use diesel::prelude::*;
use time::PrimitiveDateTime;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = tenant_key_policies)]
pub struct TenantKeyPolicy {
    pub tenant_id: String,
    pub max_key_lifetime_days: Option<i32>,
    pub require_expiry: bool,
    pub updated_at: PrimitiveDateTime,
}

impl TenantKeyPolicy {
    /// The tenant's policy; no limit when it has none (or a stored row no longer parses).
    pub fn of(conn: &mut DbConnection, tenant_id: &str) -> QueryResult<KeyPolicy> {
        let row: Option<TenantKeyPolicy> = tenant_key_policies::table
            .find(tenant_id)
            .select(TenantKeyPolicy::as_select())
            .first(conn)
            .optional()?;
        Ok(row
            .and_then(|r| KeyPolicy::new(r.max_key_lifetime_days, r.require_expiry).ok())
            .unwrap_or_default())
    }

    /// Replaces the tenant's policy (delete + insert: the MultiConnection has no upsert).
    pub fn store(
        conn: &mut DbConnection,
        tenant_id: &str,
        policy: KeyPolicy,
        now: PrimitiveDateTime,
    ) -> QueryResult<()> {
        diesel::delete(tenant_key_policies::table.find(tenant_id)).execute(conn)?;
        diesel::insert_into(tenant_key_policies::table)
            .values(TenantKeyPolicy {
                tenant_id: tenant_id.to_string(),
                max_key_lifetime_days: policy.max_key_lifetime_days(),
                require_expiry: policy.require_expiry(),
                updated_at: now,
            })
            .execute(conn)
            .map(drop)
    }
}
