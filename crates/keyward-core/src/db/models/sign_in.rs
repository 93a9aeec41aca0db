//! Counted guesses (failed or still running password checks, counted in the database so
//! every instance agrees), the notices that say a lock's refusals were audited, and the
//! first-run setup token's digest.

use crate::db::schema::{setup_tokens, sign_in_failures, throttle_notices};
use crate::db::DbConnection;
use diesel::prelude::*;
use time::PrimitiveDateTime;

/// One counted guess (a failed or still running check), keyed on the SHA-256 of the
/// normalised email: the table never holds an email. `ip` is the address's group
/// (`domain::address_group`); `device` the SHA-256 of a device cookie's nonce, or ''.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = sign_in_failures)]
pub struct SignInFailure {
    pub id: String,
    pub email_digest: String,
    pub ip: String,
    pub at: PrimitiveDateTime,
    pub purpose: String,
    pub device: String,
}

/// Which guesses count toward one limit.
#[derive(Debug, Clone, Copy)]
pub enum FailureScope<'a> {
    /// One account (email) from one address group, clients without a device cookie.
    EmailAndAddress {
        email_digest: &'a str,
        ip: &'a str,
        purpose: &'a str,
    },
    /// One address group, whatever the email or purpose, clients without a device cookie.
    Address { ip: &'a str },
    /// One account from every client without a device cookie, whatever the address.
    Account {
        email_digest: &'a str,
        purpose: &'a str,
    },
    /// One device cookie.
    Device { device: &'a str, purpose: &'a str },
}

type Boxed<'a> = sign_in_failures::BoxedQuery<'a, <DbConnection as diesel::Connection>::Backend>;

impl FailureScope<'_> {
    fn query(self) -> Boxed<'static> {
        let query = sign_in_failures::table.into_boxed();
        match self {
            FailureScope::EmailAndAddress {
                email_digest,
                ip,
                purpose,
            } => query
                .filter(sign_in_failures::email_digest.eq(email_digest.to_string()))
                .filter(sign_in_failures::ip.eq(ip.to_string()))
                .filter(sign_in_failures::purpose.eq(purpose.to_string()))
                .filter(sign_in_failures::device.eq("")),
            FailureScope::Address { ip } => query
                .filter(sign_in_failures::ip.eq(ip.to_string()))
                .filter(sign_in_failures::device.eq("")),
            FailureScope::Account {
                email_digest,
                purpose,
            } => query
                .filter(sign_in_failures::email_digest.eq(email_digest.to_string()))
                .filter(sign_in_failures::purpose.eq(purpose.to_string()))
                .filter(sign_in_failures::device.eq("")),
            FailureScope::Device { device, purpose } => query
                .filter(sign_in_failures::device.eq(device.to_string()))
                .filter(sign_in_failures::purpose.eq(purpose.to_string())),
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

    /// This email's guesses of `purpose` from every address and device.
    pub fn clear_subject(
        conn: &mut DbConnection,
        email_digest: &str,
        purpose: &str,
    ) -> QueryResult<usize> {
        diesel::delete(
            sign_in_failures::table
                .filter(sign_in_failures::email_digest.eq(email_digest))
                .filter(sign_in_failures::purpose.eq(purpose)),
        )
        .execute(conn)
    }

    /// This email's guesses of `purpose` from this address group by clients without a
    /// device cookie (after a success there).
    pub fn clear(
        conn: &mut DbConnection,
        email_digest: &str,
        ip: &str,
        purpose: &str,
    ) -> QueryResult<usize> {
        diesel::delete(
            sign_in_failures::table
                .filter(sign_in_failures::email_digest.eq(email_digest))
                .filter(sign_in_failures::ip.eq(ip))
                .filter(sign_in_failures::purpose.eq(purpose))
                .filter(sign_in_failures::device.eq("")),
        )
        .execute(conn)
    }
}

/// That the refusals of one lock were audited; the id digests the lock.
pub struct ThrottleNotice;

impl ThrottleNotice {
    pub fn exists(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(throttle_notices::table.find(id))).get_result(conn)
    }

    /// Takes the notice; `false` when another request (or instance) took it first. In a
    /// savepoint, so a clash does not spoil a PostgreSQL transaction around it.
    pub fn claim(conn: &mut DbConnection, id: &str, now: PrimitiveDateTime) -> QueryResult<bool> {
        let inserted = conn.transaction(|conn| {
            diesel::insert_into(throttle_notices::table)
                .values((throttle_notices::id.eq(id), throttle_notices::at.eq(now)))
                .execute(conn)
        });
        match inserted {
            Ok(_) => Ok(true),
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub fn delete_before(conn: &mut DbConnection, before: PrimitiveDateTime) -> QueryResult<usize> {
        diesel::delete(throttle_notices::table.filter(throttle_notices::at.lt(before)))
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
