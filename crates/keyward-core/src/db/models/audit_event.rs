use crate::db::schema::audit_events;
use crate::db::DbConnection;
use diesel::prelude::*;
use time::PrimitiveDateTime;

/// One line of history. No foreign keys: history outlives what it names.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    pub id: String,
    pub tenant_id: Option<String>,
    pub actor_id: Option<String>,
    pub actor_key_id: Option<String>,
    pub action: String,
    pub target_id: Option<String>,
    pub detail: String,
    pub ip: Option<String>,
    pub at: PrimitiveDateTime,
    /// The name of the key the action came through, as it was at the time.
    pub actor_key_name: Option<String>,
}

impl AuditEvent {
    /// The action recorded; one this version does not know reads as `Other`.
    pub fn action(&self) -> crate::domain::AuditAction {
        crate::domain::AuditAction::from_stored(&self.action)
    }

    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(audit_events::table)
            .values(self)
            .execute(conn)
            .map(drop)
    }

    /// A page of a tenant's events, newest first, optionally of one action.
    pub fn page(
        conn: &mut DbConnection,
        tenant_id: &str,
        action: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> QueryResult<Vec<AuditEvent>> {
        let mut query = audit_events::table
            .filter(audit_events::tenant_id.eq(tenant_id.to_string()))
            .select(AuditEvent::as_select())
            .order((audit_events::at.desc(), audit_events::id.desc()))
            .limit(limit)
            .offset(offset)
            .into_boxed();
        if let Some(a) = action {
            query = query.filter(audit_events::action.eq(a.to_string()));
        }
        query.load(conn)
    }

    pub fn count(
        conn: &mut DbConnection,
        tenant_id: &str,
        action: Option<&str>,
    ) -> QueryResult<i64> {
        let mut query = audit_events::table
            .filter(audit_events::tenant_id.eq(tenant_id.to_string()))
            .count()
            .into_boxed();
        if let Some(a) = action {
            query = query.filter(audit_events::action.eq(a.to_string()));
        }
        query.get_result(conn)
    }
}
