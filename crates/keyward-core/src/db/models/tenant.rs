use crate::db::schema::tenants;
use crate::db::DbConnection;
use diesel::prelude::*;
use time::PrimitiveDateTime;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = tenants)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub created_at: PrimitiveDateTime,
}

impl Tenant {
    /// The id as the services take it.
    pub fn tenant_id(&self) -> crate::domain::TenantId {
        crate::domain::TenantId::from_stored(self.id.clone())
    }

    pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Tenant>> {
        tenants::table
            .find(id)
            .select(Tenant::as_select())
            .first(conn)
            .optional()
    }

    pub fn find_by_slug(conn: &mut DbConnection, slug: &str) -> QueryResult<Option<Tenant>> {
        tenants::table
            .filter(tenants::slug.eq(slug))
            .select(Tenant::as_select())
            .first(conn)
            .optional()
    }

    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(tenants::table)
            .values(self)
            .execute(conn)
            .map(drop)
    }

    pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<usize> {
        diesel::delete(tenants::table.find(id)).execute(conn)
    }
}
