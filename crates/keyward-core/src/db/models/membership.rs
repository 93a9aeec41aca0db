use crate::db::models::{Account, Tenant};
use crate::db::schema::{accounts, memberships, tenants};
use crate::db::DbConnection;
use crate::domain::{AccountKind, Role};
use diesel::prelude::*;
use time::PrimitiveDateTime;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = memberships)]
pub struct Membership {
    pub account_id: String,
    pub tenant_id: String,
    pub role: String,
    pub created_at: PrimitiveDateTime,
}

impl Membership {
    /// `None` for a role this version does not know: refused like a missing permission.
    pub fn role(&self) -> Option<Role> {
        Role::from_stored(&self.role)
    }

    /// The role a list shows: one this version does not know shows as the lowest, which
    /// is no promise of anything, since every permission check refuses it.
    pub fn role_shown(&self) -> Role {
        self.role().unwrap_or(Role::ReadOnlyUser)
    }

    pub fn find(
        conn: &mut DbConnection,
        account_id: &str,
        tenant_id: &str,
    ) -> QueryResult<Option<Membership>> {
        memberships::table
            .find((account_id, tenant_id))
            .select(Membership::as_select())
            .first(conn)
            .optional()
    }

    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(memberships::table)
            .values(self)
            .execute(conn)
            .map(drop)
    }

    pub fn set_role(
        conn: &mut DbConnection,
        account_id: &str,
        tenant_id: &str,
        role: Role,
    ) -> QueryResult<usize> {
        diesel::update(memberships::table.find((account_id, tenant_id)))
            .set(memberships::role.eq(role.as_str()))
            .execute(conn)
    }

    pub fn delete(
        conn: &mut DbConnection,
        account_id: &str,
        tenant_id: &str,
    ) -> QueryResult<usize> {
        diesel::delete(memberships::table.find((account_id, tenant_id))).execute(conn)
    }

    /// The tenants an account belongs to, with its role in each, by tenant name.
    pub fn tenants_of(
        conn: &mut DbConnection,
        account_id: &str,
    ) -> QueryResult<Vec<(Tenant, Membership)>> {
        memberships::table
            .inner_join(tenants::table)
            .filter(memberships::account_id.eq(account_id))
            .order((tenants::name.asc(), tenants::slug.asc()))
            .select((Tenant::as_select(), Membership::as_select()))
            .load(conn)
    }

    /// A tenant's members (people and service accounts), by name.
    pub fn members_of(
        conn: &mut DbConnection,
        tenant_id: &str,
    ) -> QueryResult<Vec<(Account, Membership)>> {
        memberships::table
            .inner_join(accounts::table)
            .filter(memberships::tenant_id.eq(tenant_id))
            .order((accounts::name.asc(), accounts::id.asc()))
            .select((Account::as_select(), Membership::as_select()))
            .load(conn)
    }

    /// How many people (not service accounts) hold ADMIN in a tenant.
    /// The memberships of these accounts in one tenant, by account id: one query for a
    /// page of service accounts.
    pub fn of_accounts_in(
        conn: &mut DbConnection,
        tenant_id: &str,
        account_ids: &[String],
    ) -> QueryResult<std::collections::HashMap<String, Membership>> {
        Ok(memberships::table
            .filter(memberships::tenant_id.eq(tenant_id))
            .filter(memberships::account_id.eq_any(account_ids))
            .select(Membership::as_select())
            .load(conn)?
            .into_iter()
            .map(|m| (m.account_id.clone(), m))
            .collect())
    }

    pub fn count_human_admins(conn: &mut DbConnection, tenant_id: &str) -> QueryResult<i64> {
        memberships::table
            .inner_join(accounts::table)
            .filter(memberships::tenant_id.eq(tenant_id))
            .filter(memberships::role.eq(Role::Admin.as_str()))
            .filter(accounts::account_type.eq(AccountKind::User.as_str()))
            .count()
            .get_result(conn)
    }

    /// The addresses of the people (not service accounts) who hold ADMIN in a tenant,
    /// at most `limit`, oldest memberships first.
    pub fn human_admin_emails(
        conn: &mut DbConnection,
        tenant_id: &str,
        limit: i64,
    ) -> QueryResult<Vec<String>> {
        Ok(memberships::table
            .inner_join(accounts::table)
            .filter(memberships::tenant_id.eq(tenant_id))
            .filter(memberships::role.eq(Role::Admin.as_str()))
            .filter(accounts::account_type.eq(AccountKind::User.as_str()))
            .order((accounts::created_at.asc(), accounts::id.asc()))
            .select(accounts::email)
            .limit(limit)
            .load::<Option<String>>(conn)?
            .into_iter()
            .flatten()
            .collect())
    }

    pub fn delete_all_of_tenant(conn: &mut DbConnection, tenant_id: &str) -> QueryResult<usize> {
        diesel::delete(memberships::table.filter(memberships::tenant_id.eq(tenant_id)))
            .execute(conn)
    }
}
