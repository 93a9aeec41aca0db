use crate::db::models::{Account, Tenant};
use crate::db::schema::{accounts, api_keys, memberships};
use crate::db::DbConnection;
use diesel::prelude::*;
use time::PrimitiveDateTime;

/// A stored key. It holds the digest of the token, never the token.
#[derive(Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys)]
pub struct ApiKey {
    pub id: String,
    pub account_id: String,
    pub tenant_id: String,
    pub name: String,
    pub token_digest: String,
    pub display_hint: String,
    pub created_at: PrimitiveDateTime,
    pub created_by: Option<String>,
    pub created_by_key_id: Option<String>,
    pub expires_at: Option<PrimitiveDateTime>,
    pub last_used_at: Option<PrimitiveDateTime>,
    pub last_used_ip: Option<String>,
    /// Answers queries only: every change is refused by the permission service.
    pub read_only: bool,
    /// Set when the key was rotated: the key that replaces it. The key keeps working
    /// until its `expires_at` (the end of the overlap) and does not hold its name.
    pub rotated_to_key_id: Option<String>,
    /// Comma-separated CIDR ranges the key may be used from; `None` = anywhere
    /// (`domain::AllowedIps`).
    pub allowed_ips: Option<String>,
    pub ip_refusal_audited_at: Option<PrimitiveDateTime>,
    /// What the key is for (`domain::KeyDescription`); empty: none.
    pub description: String,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .field("account_id", &self.account_id)
            .field("tenant_id", &self.tenant_id)
            .field("name", &self.name)
            .field("display_hint", &self.display_hint)
            .field("expires_at", &self.expires_at)
            .field("read_only", &self.read_only)
            .field("rotated_to_key_id", &self.rotated_to_key_id)
            .finish_non_exhaustive()
    }
}

/// A key with the account that owns it and the tenant it serves: what lists show.
#[derive(Debug, Clone)]
pub struct ApiKeyListing {
    pub key: ApiKey,
    /// Shared by every key of the page that the account holds (a page of 1,000 keys of
    /// one person holds one copy, not 1,000).
    pub account: std::sync::Arc<Account>,
    pub tenant: std::sync::Arc<Tenant>,
}

/// What the authentication pipeline reads of a key, its owner and the owner's role in the
/// key's tenant: only the columns it uses (no digest, no password hash, nothing to show).
#[derive(Debug, Clone, Queryable)]
pub struct KeyCheck {
    pub key_id: String,
    pub tenant_id: String,
    pub key_name: String,
    pub expires_at: Option<PrimitiveDateTime>,
    pub last_used_at: Option<PrimitiveDateTime>,
    pub read_only: bool,
    pub allowed_ips: Option<String>,
    pub ip_refusal_audited_at: Option<PrimitiveDateTime>,
    pub account_id: String,
    pub account_type: String,
    pub role: String,
}

/// `KeyCheck` by digest: one query (a macro because each connection type needs the query
/// built for its backend).
macro_rules! key_check_by_digest {
    ($digest:expr) => {
        api_keys::table
            .inner_join(accounts::table)
            .inner_join(
                memberships::table.on(memberships::account_id
                    .eq(api_keys::account_id)
                    .and(memberships::tenant_id.eq(api_keys::tenant_id))),
            )
            .filter(api_keys::token_digest.eq($digest))
            .select((
                api_keys::id,
                api_keys::tenant_id,
                api_keys::name,
                api_keys::expires_at,
                api_keys::last_used_at,
                api_keys::read_only,
                api_keys::allowed_ips,
                api_keys::ip_refusal_audited_at,
                accounts::id,
                accounts::account_type,
                memberships::role,
            ))
    };
}

impl ApiKey {
    /// The id as the services take it.
    pub fn key_id(&self) -> crate::domain::ApiKeyId {
        crate::domain::ApiKeyId::from_stored(self.id.clone())
    }

    /// The key's tenant, as the services take it.
    pub fn tenant(&self) -> crate::domain::TenantId {
        crate::domain::TenantId::from_stored(self.tenant_id.clone())
    }

    /// The key's account, as the services take it.
    pub fn owner(&self) -> crate::domain::AccountId {
        crate::domain::AccountId::from_stored(self.account_id.clone())
    }

    pub fn is_expired(&self, now: PrimitiveDateTime) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<ApiKey>> {
        api_keys::table
            .find(id)
            .select(ApiKey::as_select())
            .first(conn)
            .optional()
    }

    /// The key whose token has this digest, by the unique index the authentication
    /// pipeline reads (a leaked key's value turned into its key, `services::key_leaks`).
    pub fn find_by_digest(conn: &mut DbConnection, digest: &str) -> QueryResult<Option<ApiKey>> {
        api_keys::table
            .filter(api_keys::token_digest.eq(digest))
            .select(ApiKey::as_select())
            .first(conn)
            .optional()
    }

    /// The one indexed query of the authentication pipeline: what it needs of the key, its
    /// owner and the owner's membership in the key's tenant, by digest.
    ///
    /// Run on the backend's own connection, whose statement cache keeps it prepared (the
    /// MultiConnection builds its SQL again on every call), and without `LIMIT ?`
    /// (`first`): the digest is unique, and SQLite re-prepares a statement on every
    /// call when a bound value takes part in planning, as a `LIMIT` parameter does.
    pub fn authenticate(conn: &mut DbConnection, digest: &str) -> QueryResult<Option<KeyCheck>> {
        match conn {
            DbConnection::Sqlite(c) => key_check_by_digest!(digest).get_result(c).optional(),
            DbConnection::Postgres(c) => key_check_by_digest!(digest).get_result(c).optional(),
        }
    }

    /// `authenticate` on PostgreSQL's asynchronous connection (`db::key_pipeline`): the
    /// same query, whose reads from concurrent requests pipeline on the one connection.
    pub async fn authenticate_pipelined(
        conn: &diesel_async::AsyncPgConnection,
        digest: &str,
    ) -> QueryResult<Option<KeyCheck>> {
        let mut conn = conn;
        diesel_async::RunQueryDsl::get_result(key_check_by_digest!(digest), &mut conn)
            .await
            .optional()
    }

    /// Records use at most once a minute: the condition makes concurrent instances agree.
    pub fn touch(
        conn: &mut DbConnection,
        id: &str,
        now: PrimitiveDateTime,
        ip: Option<&str>,
    ) -> QueryResult<usize> {
        let stale_before = now - time::Duration::minutes(1);
        diesel::update(
            api_keys::table.find(id).filter(
                api_keys::last_used_at
                    .is_null()
                    .or(api_keys::last_used_at.le(stale_before)),
            ),
        )
        .set((
            api_keys::last_used_at.eq(now),
            api_keys::last_used_ip.eq(ip),
        ))
        .execute(conn)
    }

    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(api_keys::table)
            .values(self)
            .execute(conn)
            .map(drop)
    }

    pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<usize> {
        diesel::delete(api_keys::table.find(id)).execute(conn)
    }

    /// Keys of one account, optionally only those of one tenant.
    pub fn of_account(
        conn: &mut DbConnection,
        account_id: &str,
        tenant_id: Option<&str>,
    ) -> QueryResult<Vec<ApiKey>> {
        let mut query = api_keys::table
            .filter(api_keys::account_id.eq(account_id))
            .select(ApiKey::as_select())
            .order((api_keys::created_at.desc(), api_keys::id.desc()))
            .into_boxed();
        if let Some(t) = tenant_id {
            query = query.filter(api_keys::tenant_id.eq(t.to_string()));
        }
        query.load(conn)
    }

    pub fn count_of_account(conn: &mut DbConnection, account_id: &str) -> QueryResult<i64> {
        api_keys::table
            .filter(api_keys::account_id.eq(account_id))
            .count()
            .get_result(conn)
    }

    pub fn ids_of_tenant(conn: &mut DbConnection, tenant_id: &str) -> QueryResult<Vec<ApiKey>> {
        api_keys::table
            .filter(api_keys::tenant_id.eq(tenant_id))
            .select(ApiKey::as_select())
            .load(conn)
    }
}
