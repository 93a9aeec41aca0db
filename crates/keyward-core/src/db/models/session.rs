use crate::db::schema::sessions;
use crate::db::DbConnection;
use diesel::prelude::*;
use time::PrimitiveDateTime;

/// A browser session, keyed by the SHA-256 of its id (never the id itself).
#[derive(Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub id_digest: String,
    pub account_id: String,
    pub csrf_token: String,
    pub tenant_id: Option<String>,
    pub state: String,
    pub created_at: PrimitiveDateTime,
    pub last_seen_at: PrimitiveDateTime,
    pub expires_at: PrimitiveDateTime,
}

impl std::fmt::Debug for SessionRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRow")
            .field("account_id", &self.account_id)
            .field("tenant_id", &self.tenant_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl SessionRow {
    pub fn find(conn: &mut DbConnection, id_digest: &str) -> QueryResult<Option<SessionRow>> {
        sessions::table
            .find(id_digest)
            .select(SessionRow::as_select())
            .first(conn)
            .optional()
    }

    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(sessions::table)
            .values(self)
            .execute(conn)
            .map(drop)
    }

    pub fn delete(conn: &mut DbConnection, id_digest: &str) -> QueryResult<usize> {
        diesel::delete(sessions::table.find(id_digest)).execute(conn)
    }

    pub fn delete_all_of_account(conn: &mut DbConnection, account_id: &str) -> QueryResult<usize> {
        diesel::delete(sessions::table.filter(sessions::account_id.eq(account_id))).execute(conn)
    }

    pub fn delete_others_of_account(
        conn: &mut DbConnection,
        account_id: &str,
        keep_digest: &str,
    ) -> QueryResult<usize> {
        diesel::delete(
            sessions::table
                .filter(sessions::account_id.eq(account_id))
                .filter(sessions::id_digest.ne(keep_digest)),
        )
        .execute(conn)
    }
}

/// What a session holds besides its timestamps; written on save and on every change.
#[derive(Debug, Clone, PartialEq, AsChangeset)]
#[diesel(table_name = sessions)]
pub struct SessionChanges<'a> {
    pub account_id: &'a str,
    pub csrf_token: &'a str,
    pub tenant_id: Option<&'a str>,
    pub state: &'a str,
    pub last_seen_at: PrimitiveDateTime,
}

impl SessionRow {
    /// Applies changes to a live session; 0 when it has ended meanwhile.
    pub fn update(
        conn: &mut DbConnection,
        id_digest: &str,
        changes: &SessionChanges<'_>,
    ) -> QueryResult<usize> {
        diesel::update(sessions::table.find(id_digest))
            .set(changes)
            .execute(conn)
    }

    /// Sessions past their absolute expiry or unused since `idle_before`.
    pub fn delete_timed_out(
        conn: &mut DbConnection,
        now: PrimitiveDateTime,
        idle_before: PrimitiveDateTime,
    ) -> QueryResult<usize> {
        diesel::delete(
            sessions::table.filter(
                sessions::expires_at
                    .le(now)
                    .or(sessions::last_seen_at.le(idle_before)),
            ),
        )
        .execute(conn)
    }

    pub fn digests_of_account(
        conn: &mut DbConnection,
        account_id: &str,
    ) -> QueryResult<Vec<String>> {
        sessions::table
            .filter(sessions::account_id.eq(account_id))
            .select(sessions::id_digest)
            .load(conn)
    }

    pub fn set_csrf_token(
        conn: &mut DbConnection,
        id_digest: &str,
        csrf_token: &str,
    ) -> QueryResult<usize> {
        diesel::update(sessions::table.find(id_digest))
            .set(sessions::csrf_token.eq(csrf_token))
            .execute(conn)
    }

    pub fn touch(
        conn: &mut DbConnection,
        id_digest: &str,
        now: PrimitiveDateTime,
    ) -> QueryResult<usize> {
        diesel::update(sessions::table.find(id_digest))
            .set(sessions::last_seen_at.eq(now))
            .execute(conn)
    }
}
