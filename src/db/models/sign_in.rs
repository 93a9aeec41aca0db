//! Failed sign-ins (counted in the database so every instance agrees) and the first-run
//! setup token's digest.

use crate::db::schema::{setup_tokens, sign_in_failures};
use crate::db::DbConnection;
use diesel::prelude::*;
use time::PrimitiveDateTime;

/// One failed (or still running) password check, keyed on the SHA-256 of the normalised
/// email: the table never holds an email.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = sign_in_failures)]
pub struct SignInFailure {
    pub id: String,
    pub email_digest: String,
    pub ip: String,
    pub at: PrimitiveDateTime,
}

/// Which failures count: those for one email from one address, or all from one address.
#[derive(Debug, Clone, Copy)]
pub enum FailureScope<'a> {
    EmailAndAddress { email_digest: &'a str, ip: &'a str },
    Address { ip: &'a str },
}

type Boxed<'a> = sign_in_failures::BoxedQuery<'a, <DbConnection as diesel::Connection>::Backend>;

impl FailureScope<'_> {
    fn query(self) -> Boxed<'static> {
        let query = sign_in_failures::table.into_boxed();
        match self {
            FailureScope::EmailAndAddress { email_digest, ip } => query
                .filter(sign_in_failures::email_digest.eq(email_digest.to_string()))
                .filter(sign_in_failures::ip.eq(ip.to_string())),
            FailureScope::Address { ip } => query.filter(sign_in_failures::ip.eq(ip.to_string())),
        }
    }
}

impl SignInFailure {
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(sign_in_failures::table)
            .values(self)
            .execute(conn)
            .map(drop)
    }

    pub fn count_since(
        conn: &mut DbConnection,
        scope: FailureScope<'_>,
        since: PrimitiveDateTime,
    ) -> QueryResult<i64> {
        scope
            .query()
            .filter(sign_in_failures::at.gt(since))
            .count()
            .get_result(conn)
    }

    /// The newest failure times, newest first (to say when the lock lifts).
    pub fn latest(
        conn: &mut DbConnection,
        scope: FailureScope<'_>,
        limit: i64,
    ) -> QueryResult<Vec<PrimitiveDateTime>> {
        scope
            .query()
            .order(sign_in_failures::at.desc())
            .limit(limit)
            .select(sign_in_failures::at)
            .load(conn)
    }

    pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<usize> {
        diesel::delete(sign_in_failures::table.find(id)).execute(conn)
    }

    /// Failures older than `before`, which no longer count anywhere.
    pub fn delete_before(conn: &mut DbConnection, before: PrimitiveDateTime) -> QueryResult<usize> {
        diesel::delete(sign_in_failures::table.filter(sign_in_failures::at.lt(before)))
            .execute(conn)
    }

    pub fn clear(conn: &mut DbConnection, email_digest: &str, ip: &str) -> QueryResult<usize> {
        diesel::delete(
            sign_in_failures::table
                .filter(sign_in_failures::email_digest.eq(email_digest))
                .filter(sign_in_failures::ip.eq(ip)),
        )
        .execute(conn)
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = setup_tokens)]
pub struct SetupToken {
    pub token_digest: String,
    pub created_at: PrimitiveDateTime,
}

impl SetupToken {
    pub fn replace(conn: &mut DbConnection, token: &SetupToken) -> QueryResult<()> {
        diesel::delete(setup_tokens::table).execute(conn)?;
        diesel::insert_into(setup_tokens::table)
            .values(token)
            .execute(conn)
            .map(drop)
    }

    /// Adds a token beside any others (each instance prints its own at start-up).
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(setup_tokens::table)
            .values(self)
            .execute(conn)
            .map(drop)
    }

    pub fn exists(conn: &mut DbConnection, digest: &str) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(setup_tokens::table.find(digest))).get_result(conn)
    }

    pub fn clear(conn: &mut DbConnection) -> QueryResult<usize> {
        diesel::delete(setup_tokens::table).execute(conn)
    }

    /// Deletes the token with this digest; 1 when it was there to take.
    pub fn take(conn: &mut DbConnection, digest: &str) -> QueryResult<usize> {
        diesel::delete(setup_tokens::table.find(digest)).execute(conn)
    }
}
