use crate::db::schema::accounts;
use crate::db::DbConnection;
use crate::domain::AccountKind;
use diesel::prelude::*;
use time::PrimitiveDateTime;

#[derive(Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = accounts)]
pub struct Account {
    pub id: String,
    pub account_type: String,
    pub name: String,
    pub email: Option<String>,
    pub password_hash: Option<String>,
    pub tenant_id: Option<String>,
    pub created_at: PrimitiveDateTime,
    pub created_by: Option<String>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id)
            .field("account_type", &self.account_type)
            .field("name", &self.name)
            .field("email", &self.email)
            .field("tenant_id", &self.tenant_id)
            .finish_non_exhaustive()
    }
}

impl Account {
    /// The id as the services take it.
    pub fn account_id(&self) -> crate::domain::AccountId {
        crate::domain::AccountId::from_stored(self.id.clone())
    }

    /// A service account's own tenant, as the services take it (`None` for a person).
    pub fn own_tenant(&self) -> Option<crate::domain::TenantId> {
        self.tenant_id
            .clone()
            .map(crate::domain::TenantId::from_stored)
    }

    pub fn kind(&self) -> AccountKind {
        AccountKind::parse(&self.account_type).unwrap_or(AccountKind::User)
    }

    pub fn is_service_account(&self) -> bool {
        self.kind() == AccountKind::ServiceAccount
    }

    pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Account>> {
        accounts::table
            .find(id)
            .select(Account::as_select())
            .first(conn)
            .optional()
    }

    pub fn find_by_email(conn: &mut DbConnection, email: &str) -> QueryResult<Option<Account>> {
        accounts::table
            .filter(accounts::email.eq(email))
            .select(Account::as_select())
            .first(conn)
            .optional()
    }

    pub fn service_accounts_of(
        conn: &mut DbConnection,
        tenant_id: &str,
    ) -> QueryResult<Vec<Account>> {
        accounts::table
            .filter(accounts::tenant_id.eq(tenant_id))
            .filter(accounts::account_type.eq(AccountKind::ServiceAccount.as_str()))
            .order((accounts::name.asc(), accounts::id.asc()))
            .select(Account::as_select())
            .load(conn)
    }

    pub fn count_service_accounts_of(conn: &mut DbConnection, tenant_id: &str) -> QueryResult<i64> {
        accounts::table
            .filter(accounts::tenant_id.eq(tenant_id))
            .filter(accounts::account_type.eq(AccountKind::ServiceAccount.as_str()))
            .count()
            .get_result(conn)
    }

    pub fn any_exists(conn: &mut DbConnection) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(accounts::table.select(accounts::id))).get_result(conn)
    }

    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(accounts::table)
            .values(self)
            .execute(conn)
            .map(drop)
    }

    pub fn rename(conn: &mut DbConnection, id: &str, name: &str) -> QueryResult<usize> {
        diesel::update(accounts::table.find(id))
            .set(accounts::name.eq(name))
            .execute(conn)
    }

    pub fn set_password_hash(conn: &mut DbConnection, id: &str, hash: &str) -> QueryResult<usize> {
        diesel::update(accounts::table.find(id))
            .set(accounts::password_hash.eq(hash))
            .execute(conn)
    }

    pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<usize> {
        diesel::delete(accounts::table.find(id)).execute(conn)
    }
}
