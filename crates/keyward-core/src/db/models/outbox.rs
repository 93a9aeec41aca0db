//! The outbox's rows and the statements the worker and the pages need. Every write is one
//! conditional statement, so that it means the same on SQLite and PostgreSQL and with any
//! number of instances: a claim succeeds for exactly one claimant, and only the holder of
//! the current claim can record how a send went.

use crate::db::schema::outbox;
use crate::db::DbConnection;
use diesel::prelude::*;
use time::PrimitiveDateTime;

pub const PENDING: &str = "pending";
pub const SENT: &str = "sent";
pub const FAILED: &str = "failed";
/// Revoked before it was sent: kept (without its payload) so that it still counts against
/// the day's mail quotas, and deleted with the rest after a week.
pub const CANCELLED: &str = "cancelled";

/// Which kinds of rows a count takes.
#[derive(Debug, Clone, Copy)]
pub enum Kinds<'a> {
    Only(&'a str),
    AllBut(&'a str),
}

/// One message to deliver. `payload` may carry a secret link: it is emptied once the row
/// is sent or given up. No `Debug` of the payload.
#[derive(Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = outbox)]
pub struct OutboxRow {
    pub id: String,
    /// What it is (`mail.invitation`, later `webhook.…`): chooses the sender and, for a
    /// mail, its fixed subject.
    pub kind: String,
    /// Whose admins see its state; `None` for the operator's own.
    pub tenant_id: Option<String>,
    /// The row it is about (an invitation), so revoking that can cancel it.
    pub about_id: Option<String>,
    /// A mail address (a webhook URL later).
    pub recipient: String,
    pub payload: String,
    pub status: String,
    pub attempts: i32,
    pub created_at: PrimitiveDateTime,
    /// When it may next be claimed: when it is due, or while claimed, the lease's end.
    pub next_attempt_at: PrimitiveDateTime,
    pub claim: Option<String>,
    pub last_attempt_at: Option<PrimitiveDateTime>,
    pub last_error: Option<String>,
    pub done_at: Option<PrimitiveDateTime>,
}

/// The row `id`, pending, under one claim: what only the claim's holder may update.
type Held<'a> = diesel::dsl::Filter<
    diesel::dsl::Filter<
        diesel::dsl::Find<outbox::table, &'a str>,
        diesel::dsl::Eq<outbox::status, &'static str>,
    >,
    diesel::dsl::Eq<outbox::claim, &'a str>,
>;

/// A row done with (sent, given up, cancelled): its status, its payload emptied, no claim.
type Finished = (
    diesel::dsl::Eq<outbox::status, &'static str>,
    diesel::dsl::Eq<outbox::payload, &'static str>,
    diesel::dsl::Eq<outbox::claim, Option<String>>,
    diesel::dsl::Eq<outbox::done_at, PrimitiveDateTime>,
);

fn finished(status: &'static str, now: PrimitiveDateTime) -> Finished {
    (
        outbox::status.eq(status),
        outbox::payload.eq(""),
        outbox::claim.eq(None::<String>),
        outbox::done_at.eq(now),
    )
}

impl std::fmt::Debug for OutboxRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxRow")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("tenant_id", &self.tenant_id)
            .field("status", &self.status)
            .field("attempts", &self.attempts)
            .field("next_attempt_at", &self.next_attempt_at)
            .field("last_error", &self.last_error)
            .finish_non_exhaustive()
    }
}

impl OutboxRow {
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(outbox::table)
            .values(self)
            .execute(conn)
            .map(drop)
    }

    pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<OutboxRow>> {
        outbox::table
            .find(id)
            .select(OutboxRow::as_select())
            .first(conn)
            .optional()
    }

    /// Ids of rows due at `now`, the longest waiting first.
    pub fn due_ids(
        conn: &mut DbConnection,
        now: PrimitiveDateTime,
        kind_prefix: &str,
        limit: i64,
    ) -> QueryResult<Vec<String>> {
        outbox::table
            .filter(outbox::status.eq(PENDING))
            .filter(outbox::kind.like(format!("{kind_prefix}%")))
            .filter(outbox::next_attempt_at.le(now))
            .order(outbox::next_attempt_at.asc())
            .limit(limit)
            .select(outbox::id)
            .load(conn)
    }

    /// Claims a due row until `lease_until`: 1 when this claimant won it, 0 when another
    /// did first (or it is no longer due). On PostgreSQL a concurrent claim waits for the
    /// first one's row lock and then re-checks the condition, which no longer holds.
    pub fn claim(
        conn: &mut DbConnection,
        id: &str,
        claim: &str,
        now: PrimitiveDateTime,
        lease_until: PrimitiveDateTime,
    ) -> QueryResult<usize> {
        diesel::update(
            outbox::table
                .find(id)
                .filter(outbox::status.eq(PENDING))
                .filter(outbox::next_attempt_at.le(now)),
        )
        .set((
            outbox::claim.eq(claim),
            outbox::next_attempt_at.eq(lease_until),
            outbox::attempts.eq(outbox::attempts + 1),
            outbox::last_attempt_at.eq(now),
        ))
        .execute(conn)
    }

    /// Sent: the payload (and any link in it) is emptied. 0 when the claim was lost.
    pub fn mark_sent(
        conn: &mut DbConnection,
        id: &str,
        claim: &str,
        now: PrimitiveDateTime,
    ) -> QueryResult<usize> {
        diesel::update(Self::held(id, claim))
            .set(finished(SENT, now))
            .execute(conn)
    }

    /// The attempt failed; tried again from `next_attempt_at`.
    pub fn mark_retry(
        conn: &mut DbConnection,
        id: &str,
        claim: &str,
        next_attempt_at: PrimitiveDateTime,
        error: &str,
    ) -> QueryResult<usize> {
        diesel::update(Self::held(id, claim))
            .set((
                outbox::claim.eq(None::<String>),
                outbox::next_attempt_at.eq(next_attempt_at),
                outbox::last_error.eq(error),
            ))
            .execute(conn)
    }

    /// Given up: kept (without its payload) to say why, until housekeeping deletes it.
    pub fn mark_failed(
        conn: &mut DbConnection,
        id: &str,
        claim: &str,
        now: PrimitiveDateTime,
        error: &str,
    ) -> QueryResult<usize> {
        diesel::update(Self::held(id, claim))
            .set((finished(FAILED, now), outbox::last_error.eq(error)))
            .execute(conn)
    }

    /// The row `id` while still pending under `claim`.
    fn held<'a>(id: &'a str, claim: &'a str) -> Held<'a> {
        outbox::table
            .find(id)
            .filter(outbox::status.eq(PENDING))
            .filter(outbox::claim.eq(claim))
    }

    /// Whether a row about `about_id` is still pending (queued or being retried).
    pub fn is_pending_about(conn: &mut DbConnection, about_id: &str) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(
            outbox::table
                .filter(outbox::about_id.eq(about_id))
                .filter(outbox::status.eq(PENDING)),
        ))
        .get_result(conn)
    }

    /// Pending rows about `about_id` (an invitation being revoked) are cancelled: never
    /// sent (a send under way is not recorded), emptied, and kept to count against the
    /// day's quotas, so that inviting and revoking cannot mail without bound.
    pub fn cancel_pending_about(
        conn: &mut DbConnection,
        about_id: &str,
        now: PrimitiveDateTime,
    ) -> QueryResult<usize> {
        diesel::update(
            outbox::table
                .filter(outbox::about_id.eq(about_id))
                .filter(outbox::status.eq(PENDING)),
        )
        .set(finished(CANCELLED, now))
        .execute(conn)
    }

    /// Pending rows written before `before` are given up with `error` and emptied: a row
    /// no worker sends (mail turned off after it was queued) does not keep its link.
    pub fn give_up_pending_before(
        conn: &mut DbConnection,
        before: PrimitiveDateTime,
        now: PrimitiveDateTime,
        error: &str,
    ) -> QueryResult<usize> {
        diesel::update(
            outbox::table
                .filter(outbox::status.eq(PENDING))
                .filter(outbox::created_at.lt(before)),
        )
        .set((finished(FAILED, now), outbox::last_error.eq(error)))
        .execute(conn)
    }

    /// How many rows of a tenant of `kinds` were written since `since` (whatever became of
    /// them), and of those, how many to `recipient`.
    pub fn count_of_tenant_since(
        conn: &mut DbConnection,
        tenant_id: &str,
        since: PrimitiveDateTime,
        recipient: Option<&str>,
        kinds: Kinds<'_>,
    ) -> QueryResult<i64> {
        let mut query = outbox::table
            .filter(outbox::tenant_id.eq(tenant_id))
            .filter(outbox::created_at.gt(since))
            .into_boxed();
        if let Some(to) = recipient {
            query = query.filter(outbox::recipient.eq(to));
        }
        query = match kinds {
            Kinds::Only(kind) => query.filter(outbox::kind.eq(kind)),
            Kinds::AllBut(kind) => query.filter(outbox::kind.ne(kind)),
        };
        query.count().get_result(conn)
    }

    /// Messages of `kinds` queued to `recipient` after `since`, whatever became of them.
    pub fn count_to_since(
        conn: &mut DbConnection,
        recipient: &str,
        kinds: &[&str],
        since: PrimitiveDateTime,
    ) -> QueryResult<i64> {
        outbox::table
            .filter(outbox::recipient.eq(recipient))
            .filter(outbox::kind.eq_any(kinds))
            .filter(outbox::created_at.gt(since))
            .count()
            .get_result(conn)
    }

    /// The time claims are compared with. On PostgreSQL the database's own clock, so that
    /// instances whose clocks disagree still agree on when a lease ends; `None` on SQLite,
    /// whose instances share one machine, and so one clock.
    pub fn database_now(conn: &mut DbConnection) -> QueryResult<Option<PrimitiveDateTime>> {
        match conn {
            DbConnection::Postgres(pg) => {
                diesel::select(diesel::dsl::sql::<diesel::sql_types::Timestamp>(
                    "CAST(now() AT TIME ZONE 'UTC' AS TIMESTAMP(6))",
                ))
                .get_result::<PrimitiveDateTime>(pg)
                .map(Some)
            }
            DbConnection::Sqlite(_) => Ok(None),
        }
    }

    /// How many rows have `status` (all tenants).
    pub fn count_with_status(conn: &mut DbConnection, status: &str) -> QueryResult<i64> {
        outbox::table
            .filter(outbox::status.eq(status))
            .count()
            .get_result(conn)
    }

    /// How many rows of a tenant have `status`.
    pub fn count_of_tenant(
        conn: &mut DbConnection,
        tenant_id: &str,
        status: &str,
    ) -> QueryResult<i64> {
        outbox::table
            .filter(outbox::tenant_id.eq(tenant_id))
            .filter(outbox::status.eq(status))
            .count()
            .get_result(conn)
    }

    /// The tenant's row attempted last, and its last failed one.
    pub fn last_attempted_of_tenant(
        conn: &mut DbConnection,
        tenant_id: &str,
        failed_only: bool,
    ) -> QueryResult<Option<OutboxRow>> {
        let mut query = outbox::table
            .filter(outbox::tenant_id.eq(tenant_id))
            .filter(outbox::last_attempt_at.is_not_null())
            .into_boxed();
        if failed_only {
            query = query
                .filter(outbox::last_error.is_not_null())
                .filter(outbox::status.ne(CANCELLED));
        }
        query
            .order(outbox::last_attempt_at.desc())
            .select(OutboxRow::as_select())
            .first(conn)
            .optional()
    }

    /// Rows sent or given up before `before`.
    pub fn delete_done_before(
        conn: &mut DbConnection,
        before: PrimitiveDateTime,
    ) -> QueryResult<usize> {
        diesel::delete(outbox::table.filter(outbox::done_at.lt(before))).execute(conn)
    }

    pub fn delete_all_of_tenant(conn: &mut DbConnection, tenant_id: &str) -> QueryResult<usize> {
        diesel::delete(outbox::table.filter(outbox::tenant_id.eq(tenant_id))).execute(conn)
    }
}
