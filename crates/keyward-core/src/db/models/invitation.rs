use crate::db::schema::invitations;
use crate::db::DbConnection;
use diesel::prelude::*;
use time::PrimitiveDateTime;

/// A one-time link to join a tenant; stored by the digest of its token.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = invitations)]
pub struct Invitation {
    pub id: String,
    pub token_digest: String,
    pub tenant_id: String,
    pub role: String,
    pub created_by: String,
    pub created_at: PrimitiveDateTime,
    pub expires_at: PrimitiveDateTime,
    pub used_at: Option<PrimitiveDateTime>,
    pub used_by: Option<String>,
    /// What the admin wrote to tell it apart from other pending links.
    pub note: Option<String>,
    /// The address a mailed invitation is bound to (lowercased); `None`: anyone's link.
    pub email: Option<String>,
}

impl Invitation {
    /// "invitation as User “for Grace”": the audit log's words for a link.
    pub fn described(&self) -> String {
        let role: &str = match self.role() {
            Some(role) => role.label(),
            None => &self.role,
        };
        let mut text = match &self.note {
            Some(note) => format!("invitation as {role} “{note}”"),
            None => format!("invitation as {role}"),
        };
        if let Some(email) = &self.email {
            text.push_str(&format!(", mailed to {email}"));
        }
        text
    }

    /// The role the link grants; `None` for one this version does not know, which no
    /// one can join with.
    pub fn role(&self) -> Option<crate::domain::Role> {
        crate::domain::Role::from_stored(&self.role)
    }

    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(invitations::table)
            .values(self)
            .execute(conn)
            .map(drop)
    }

    pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Invitation>> {
        invitations::table
            .find(id)
            .select(Invitation::as_select())
            .first(conn)
            .optional()
    }

    pub fn find_by_digest(
        conn: &mut DbConnection,
        digest: &str,
    ) -> QueryResult<Option<Invitation>> {
        invitations::table
            .filter(invitations::token_digest.eq(digest))
            .select(Invitation::as_select())
            .first(conn)
            .optional()
    }

    /// Marks it used, only if nobody did first (the condition makes it one-time).
    pub fn mark_used(
        conn: &mut DbConnection,
        id: &str,
        by: &str,
        now: PrimitiveDateTime,
    ) -> QueryResult<usize> {
        diesel::update(
            invitations::table
                .find(id)
                .filter(invitations::used_at.is_null()),
        )
        .set((invitations::used_at.eq(now), invitations::used_by.eq(by)))
        .execute(conn)
    }

    pub fn pending_of(
        conn: &mut DbConnection,
        tenant_id: &str,
        now: PrimitiveDateTime,
    ) -> QueryResult<Vec<Invitation>> {
        invitations::table
            .filter(invitations::tenant_id.eq(tenant_id))
            .filter(invitations::used_at.is_null())
            .filter(invitations::expires_at.gt(now))
            .order(invitations::created_at.desc())
            .select(Invitation::as_select())
            .load(conn)
    }

    pub fn count_pending_of(
        conn: &mut DbConnection,
        tenant_id: &str,
        now: PrimitiveDateTime,
    ) -> QueryResult<i64> {
        invitations::table
            .filter(invitations::tenant_id.eq(tenant_id))
            .filter(invitations::used_at.is_null())
            .filter(invitations::expires_at.gt(now))
            .count()
            .get_result(conn)
    }

    pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<usize> {
        diesel::delete(invitations::table.find(id)).execute(conn)
    }

    /// The unused links one account made for one tenant, expired or not.
    pub fn unused_created_by(
        conn: &mut DbConnection,
        tenant_id: &str,
        created_by: &str,
    ) -> QueryResult<Vec<Invitation>> {
        invitations::table
            .filter(invitations::tenant_id.eq(tenant_id))
            .filter(invitations::created_by.eq(created_by))
            .filter(invitations::used_at.is_null())
            .select(Invitation::as_select())
            .load(conn)
    }

    pub fn delete_all_of_tenant(conn: &mut DbConnection, tenant_id: &str) -> QueryResult<usize> {
        diesel::delete(invitations::table.filter(invitations::tenant_id.eq(tenant_id)))
            .execute(conn)
    }
}
