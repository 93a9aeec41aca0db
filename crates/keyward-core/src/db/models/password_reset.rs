//! One-time password-reset links, by the digest of their token (see
//! `services::recovery`).

use crate::db::schema::{memberships, password_resets};
use crate::db::DbConnection;
use diesel::prelude::*;
use time::PrimitiveDateTime;

/// A reset link. Holds digests only: the token and the state live in the mail (or on the
/// admin's screen) and in the browser's cookie.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = password_resets)]
pub struct PasswordReset {
    pub id: String,
    pub account_id: String,
    pub token_digest: String,
    /// The account's credential epoch when the link was made.
    pub epoch: String,
    /// The admin who made it (`None`: mailed on request).
    pub created_by: Option<String>,
    pub created_at: PrimitiveDateTime,
    pub expires_at: PrimitiveDateTime,
    pub state_digest: Option<String>,
    pub state_expires_at: Option<PrimitiveDateTime>,
}

impl PasswordReset {
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(password_resets::table)
            .values(self)
            .execute(conn)
            .map(drop)
    }

    pub fn find_by_token(conn: &mut DbConnection, digest: &str) -> QueryResult<Option<Self>> {
        password_resets::table
            .filter(password_resets::token_digest.eq(digest))
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    pub fn find_by_state(conn: &mut DbConnection, digest: &str) -> QueryResult<Option<Self>> {
        password_resets::table
            .filter(password_resets::state_digest.eq(digest))
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// Gives the link a new state (the previous opening's goes).
    pub fn set_state(
        conn: &mut DbConnection,
        id: &str,
        state_digest: &str,
        until: PrimitiveDateTime,
    ) -> QueryResult<usize> {
        diesel::update(password_resets::table.find(id))
            .set((
                password_resets::state_digest.eq(state_digest),
                password_resets::state_expires_at.eq(until),
            ))
            .execute(conn)
    }

    /// Uses the link up: deletes it while it still has this state. 1 for the one request
    /// that wins, 0 for any other.
    pub fn take(conn: &mut DbConnection, id: &str, state_digest: &str) -> QueryResult<usize> {
        diesel::delete(
            password_resets::table
                .filter(password_resets::id.eq(id))
                .filter(password_resets::state_digest.eq(state_digest)),
        )
        .execute(conn)
    }

    /// Serialises the making of one account's links on PostgreSQL (a row lock on the
    /// account, held to the end of the transaction), so two requests at once cannot leave
    /// two live links. SQLite needs nothing: write transactions are `BEGIN IMMEDIATE`.
    pub fn lock_account(conn: &mut DbConnection, account_id: &str) -> QueryResult<()> {
        match conn {
            DbConnection::Postgres(c) => {
                diesel::sql_query("SELECT id FROM accounts WHERE id = $1 FOR UPDATE")
                    .bind::<diesel::sql_types::Text, _>(account_id)
                    .execute(c)
                    .map(drop)
            }
            DbConnection::Sqlite(_) => Ok(()),
        }
    }

    /// When the account's newest link was made, if it has one.
    pub fn newest_of_account(
        conn: &mut DbConnection,
        account_id: &str,
    ) -> QueryResult<Option<PrimitiveDateTime>> {
        password_resets::table
            .filter(password_resets::account_id.eq(account_id))
            .select(diesel::dsl::max(password_resets::created_at))
            .first(conn)
    }

    /// Deletes every link of the account, returning their ids (to cancel their mail).
    pub fn delete_all_of_account_returning(
        conn: &mut DbConnection,
        account_id: &str,
    ) -> QueryResult<Vec<String>> {
        let ids: Vec<String> = password_resets::table
            .filter(password_resets::account_id.eq(account_id))
            .select(password_resets::id)
            .load(conn)?;
        if !ids.is_empty() {
            diesel::delete(password_resets::table.filter(password_resets::id.eq_any(&ids)))
                .execute(conn)?;
        }
        Ok(ids)
    }

    /// (account, tenant) of every membership of these accounts, in any tenant: whether an
    /// admin may make their reset links.
    pub fn memberships_of(
        conn: &mut DbConnection,
        account_ids: &[String],
    ) -> QueryResult<Vec<(String, String)>> {
        memberships::table
            .filter(memberships::account_id.eq_any(account_ids))
            .select((memberships::account_id, memberships::tenant_id))
            .load(conn)
    }

    /// Links expired before `before` (housekeeping).
    pub fn delete_expired(
        conn: &mut DbConnection,
        before: PrimitiveDateTime,
    ) -> QueryResult<usize> {
        diesel::delete(password_resets::table.filter(password_resets::expires_at.lt(before)))
            .execute(conn)
    }
}
