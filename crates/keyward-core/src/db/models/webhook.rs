//! Rows of the webhooks (`services::webhooks`): endpoints, messages, attempts.

use crate::db::schema::{webhook_attempts, webhook_endpoints, webhook_messages};
use crate::db::DbConnection;
use diesel::prelude::*;
use time::PrimitiveDateTime;

/// An endpoint. The secrets are sealed; no `Debug` of them.
#[derive(Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_endpoints)]
pub struct WebhookEndpoint {
    pub id: String,
    pub tenant_id: String,
    pub url: String,
    /// Comma-separated event names.
    pub events: String,
    pub secret_sealed: String,
    pub key_version: String,
    pub previous_secret_sealed: Option<String>,
    pub previous_key_version: Option<String>,
    pub previous_until: Option<PrimitiveDateTime>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub failures: i32,
    pub busy_until: Option<PrimitiveDateTime>,
    pub created_at: PrimitiveDateTime,
    pub created_by: Option<String>,
    /// When an attempt last took the endpoint (`None`: never); the least recently served
    /// endpoint's due delivery is attempted first.
    pub last_served_at: Option<PrimitiveDateTime>,
}

impl std::fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("enabled", &self.enabled)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

impl WebhookEndpoint {
    pub fn event_names(&self) -> Vec<&str> {
        self.events.split(',').filter(|e| !e.is_empty()).collect()
    }

    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(webhook_endpoints::table)
            .values(self)
            .execute(conn)
            .map(drop)
    }

    pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Self>> {
        webhook_endpoints::table
            .find(id)
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    pub fn of_tenant(conn: &mut DbConnection, tenant_id: &str) -> QueryResult<Vec<Self>> {
        webhook_endpoints::table
            .filter(webhook_endpoints::tenant_id.eq(tenant_id))
            .order((
                webhook_endpoints::created_at.asc(),
                webhook_endpoints::id.asc(),
            ))
            .select(Self::as_select())
            .load(conn)
    }

    pub fn count_of_tenant(conn: &mut DbConnection, tenant_id: &str) -> QueryResult<i64> {
        webhook_endpoints::table
            .filter(webhook_endpoints::tenant_id.eq(tenant_id))
            .count()
            .get_result(conn)
    }

    pub fn set_target(
        conn: &mut DbConnection,
        id: &str,
        url: &str,
        events: &str,
        enabled: bool,
    ) -> QueryResult<usize> {
        let reason: Option<String> = None;
        let mut update = diesel::update(webhook_endpoints::table.find(id))
            .set((
                webhook_endpoints::url.eq(url),
                webhook_endpoints::events.eq(events),
                webhook_endpoints::enabled.eq(enabled),
            ))
            .execute(conn)?;
        if enabled {
            // Enabled again: the count of failures starts over.
            update = diesel::update(webhook_endpoints::table.find(id))
                .set((
                    webhook_endpoints::disabled_reason.eq(reason),
                    webhook_endpoints::failures.eq(0),
                ))
                .execute(conn)?;
        }
        Ok(update)
    }

    pub fn set_secrets(&self, conn: &mut DbConnection) -> QueryResult<usize> {
        diesel::update(webhook_endpoints::table.find(&self.id))
            .set((
                webhook_endpoints::secret_sealed.eq(&self.secret_sealed),
                webhook_endpoints::key_version.eq(&self.key_version),
                webhook_endpoints::previous_secret_sealed.eq(&self.previous_secret_sealed),
                webhook_endpoints::previous_key_version.eq(&self.previous_key_version),
                webhook_endpoints::previous_until.eq(self.previous_until),
            ))
            .execute(conn)
    }

    pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<usize> {
        diesel::delete(webhook_endpoints::table.find(id)).execute(conn)
    }

    /// Takes the endpoint for one attempt until `until`: 1 when no other attempt holds it.
    pub fn take(
        conn: &mut DbConnection,
        id: &str,
        now: PrimitiveDateTime,
        until: PrimitiveDateTime,
    ) -> QueryResult<usize> {
        diesel::update(
            webhook_endpoints::table.find(id).filter(
                webhook_endpoints::busy_until
                    .is_null()
                    .or(webhook_endpoints::busy_until.le(now)),
            ),
        )
        .set((
            webhook_endpoints::busy_until.eq(Some(until)),
            webhook_endpoints::last_served_at.eq(Some(now)),
        ))
        .execute(conn)
    }

    /// The outbox ids of due webhook deliveries, one per endpoint (its oldest due one)
    /// for up to `limit` endpoints, the least recently served endpoint first (never
    /// served first of all; then the one whose delivery is due longest): every endpoint
    /// with due deliveries gets a turn before any gets a second, so no tenant's backlog
    /// holds all the deliverers. Endpoints an attempt holds are left out: a busy
    /// (hanging, or backlogged) endpoint's rows never hide another endpoint's due ones.
    pub fn due_deliveries(
        conn: &mut DbConnection,
        now: PrimitiveDateTime,
        limit: i64,
    ) -> QueryResult<Vec<String>> {
        use crate::db::schema::outbox;
        let due = || {
            outbox::table
                .filter(outbox::status.eq(crate::db::models::outbox::PENDING))
                .filter(outbox::kind.like("webhook.%"))
                .filter(outbox::next_attempt_at.le(now))
        };
        // Few: one per attempt in flight on all instances.
        let busy: Vec<String> = webhook_endpoints::table
            .filter(webhook_endpoints::busy_until.gt(now))
            .select(webhook_endpoints::id)
            .load(conn)?;
        // At most one row per endpoint (or per deleted endpoint's leftovers).
        let waiting: Vec<(String, Option<PrimitiveDateTime>)> = due()
            .filter(outbox::recipient.ne_all(&busy))
            .group_by(outbox::recipient)
            .select((outbox::recipient, diesel::dsl::min(outbox::next_attempt_at)))
            .load(conn)?;
        let recipients: Vec<&str> = waiting.iter().map(|(id, _)| id.as_str()).collect();
        let served: std::collections::HashMap<String, Option<PrimitiveDateTime>> =
            webhook_endpoints::table
                .filter(webhook_endpoints::id.eq_any(&recipients))
                .select((webhook_endpoints::id, webhook_endpoints::last_served_at))
                .load(conn)?
                .into_iter()
                .collect();
        let mut turns: Vec<(Option<PrimitiveDateTime>, Option<PrimitiveDateTime>, &str)> = waiting
            .iter()
            .map(|(id, oldest)| (served.get(id).copied().flatten(), *oldest, id.as_str()))
            .collect();
        // `None` (never served) sorts first.
        turns.sort();
        let mut ids = Vec::new();
        for (_, _, endpoint) in turns.into_iter().take(usize::try_from(limit).unwrap_or(0)) {
            let oldest: Option<String> = due()
                .filter(outbox::recipient.eq(endpoint))
                .order((outbox::next_attempt_at.asc(), outbox::id.asc()))
                .select(outbox::id)
                .first(conn)
                .optional()?;
            ids.extend(oldest);
        }
        Ok(ids)
    }

    pub fn release(conn: &mut DbConnection, id: &str) -> QueryResult<usize> {
        diesel::update(webhook_endpoints::table.find(id))
            .set(webhook_endpoints::busy_until.eq(None::<PrimitiveDateTime>))
            .execute(conn)
    }

    /// Records a delivery given up (or answered): the count of failures in a row.
    pub fn set_failures(conn: &mut DbConnection, id: &str, failures: i32) -> QueryResult<usize> {
        diesel::update(webhook_endpoints::table.find(id))
            .set(webhook_endpoints::failures.eq(failures))
            .execute(conn)
    }

    /// Disables the endpoint, if it was enabled: 1 when this call did.
    pub fn disable(conn: &mut DbConnection, id: &str, reason: &str) -> QueryResult<usize> {
        diesel::update(
            webhook_endpoints::table
                .find(id)
                .filter(webhook_endpoints::enabled.eq(true)),
        )
        .set((
            webhook_endpoints::enabled.eq(false),
            webhook_endpoints::disabled_reason.eq(Some(reason)),
        ))
        .execute(conn)
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_messages)]
pub struct WebhookMessage {
    pub id: String,
    pub endpoint_id: String,
    pub event: String,
    pub body: String,
    pub created_at: PrimitiveDateTime,
}

impl WebhookMessage {
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(webhook_messages::table)
            .values(self)
            .execute(conn)
            .map(drop)
    }

    pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Self>> {
        webhook_messages::table
            .find(id)
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// An endpoint's latest messages, newest first.
    pub fn recent_of(
        conn: &mut DbConnection,
        endpoint_id: &str,
        limit: i64,
    ) -> QueryResult<Vec<Self>> {
        webhook_messages::table
            .filter(webhook_messages::endpoint_id.eq(endpoint_id))
            .order((
                webhook_messages::created_at.desc(),
                webhook_messages::id.desc(),
            ))
            .limit(limit)
            .select(Self::as_select())
            .load(conn)
    }

    pub fn delete_before(conn: &mut DbConnection, before: PrimitiveDateTime) -> QueryResult<usize> {
        diesel::delete(webhook_messages::table.filter(webhook_messages::created_at.lt(before)))
            .execute(conn)
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_attempts)]
pub struct WebhookAttempt {
    pub id: String,
    pub message_id: String,
    pub endpoint_id: String,
    pub attempted_at: PrimitiveDateTime,
    pub status_code: Option<i32>,
    pub duration_ms: i32,
    pub error: Option<String>,
}

impl WebhookAttempt {
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(webhook_attempts::table)
            .values(self)
            .execute(conn)
            .map(drop)
    }

    /// The latest `at_most` attempts of a message, oldest first.
    pub fn of_message(
        conn: &mut DbConnection,
        message_id: &str,
        at_most: i64,
    ) -> QueryResult<Vec<Self>> {
        let mut latest: Vec<Self> = webhook_attempts::table
            .filter(webhook_attempts::message_id.eq(message_id))
            .order((
                webhook_attempts::attempted_at.desc(),
                webhook_attempts::id.desc(),
            ))
            .limit(at_most)
            .select(Self::as_select())
            .load(conn)?;
        latest.reverse();
        Ok(latest)
    }
}
