//! The one outbox: messages (mails today, webhook deliveries later) written in the
//! transaction of the action that causes them, and delivered by a background worker on
//! every instance, never by a request. See docs/MAIL.md.
//!
//! - **Claims with a lease.** A worker claims a due row with one conditional UPDATE that
//!   moves its `next_attempt_at` to the end of a lease (10 minutes); of several instances
//!   on one PostgreSQL exactly one wins each row, and all compare with the database's
//!   clock. A send is cut off at half the lease. A claim of an instance that died runs
//!   out and the row is due again: delivery is **at least once** (an instance killed after
//!   the SMTP server accepted a mail but before it recorded so sends it again) and
//!   **unordered**.
//! - **Retries with back-off.** A failed attempt is retried after `retry_base`, doubling
//!   each time (at most an hour); after `max_attempts`, or at once when the server refuses
//!   the recipient or the message for good, the row is given up and keeps why
//!   (`last_error`: a category and the server's code), which tenant admins see on
//!   Team › Settings.
//! - **Secrets kept only while needed.** A mail's body (which may carry a one-time link)
//!   is stored until the row is sent, given up or cancelled, then emptied; a row left
//!   unsent for a day is given up by housekeeping. Logs name rows by id and kind, with the
//!   server's words for a failure (addresses removed): never a body, a link or an address.
//! - **Bounded.** Each tenant may queue `max_mails_per_tenant_per_day` mails, and
//!   `MAILS_PER_ADDRESS_PER_DAY` to one address (leaked-key mails apart, bounded by
//!   `key_leaks`); rows sent, given up or cancelled are
//!   deleted by housekeeping after `KEPT_FOR`.

use crate::config::OutboxTiming;
use crate::db::models::outbox::{self as rows, OutboxRow};
use crate::db::{DbConnection, Pool};
use crate::domain::{new_id, Clock, TenantId};
use crate::error::AppError;
use crate::services::mail::{MailKind, Mailer, SendFailure};
use crate::services::permissions::{self, Permission};
use crate::services::Actor;
use crate::telemetry::metrics;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration as StdDuration, Instant};
use time::{Duration, PrimitiveDateTime};

/// How long rows sent or given up are kept (to show the last failure), then deleted.
pub const KEPT_FOR: Duration = Duration::days(7);

/// The longest wait between two attempts.
const MAX_BACKOFF: StdDuration = StdDuration::from_secs(3600);

/// Rows looked at per claim: a few, so that two instances racing for the oldest one do
/// not both come away empty.
const CLAIM_CANDIDATES: i64 = 8;

/// A message to put in the outbox.
pub struct NewMessage {
    pub kind: &'static str,
    pub tenant_id: Option<String>,
    pub about_id: Option<String>,
    pub recipient: String,
    /// The body; emptied once sent or given up.
    pub payload: String,
}

/// Puts a message in the outbox, in the caller's transaction: it is sent if and only if
/// that transaction commits. Due at once.
pub fn enqueue(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    message: NewMessage,
) -> Result<String, AppError> {
    let row = OutboxRow {
        id: new_id(),
        kind: message.kind.to_string(),
        tenant_id: message.tenant_id,
        about_id: message.about_id,
        recipient: message.recipient,
        payload: message.payload,
        status: rows::PENDING.to_string(),
        attempts: 0,
        created_at: now,
        next_attempt_at: now,
        claim: None,
        last_attempt_at: None,
        last_error: None,
        done_at: None,
    };
    row.insert(conn)?;
    Ok(row.id)
}

/// Cancels the unsent messages about `about_id` (an invitation revoked before its mail
/// went). They are kept, emptied, to count against the day's mail quotas.
pub(crate) fn cancel_about(
    conn: &mut DbConnection,
    about_id: &str,
    now: PrimitiveDateTime,
) -> Result<usize, AppError> {
    Ok(OutboxRow::cancel_pending_about(conn, about_id, now)?)
}

/// How long the mail quotas look back.
pub const QUOTA_WINDOW: Duration = Duration::days(1);

/// Mails one tenant may have sent to one address in a day, whatever the quotas say.
pub const MAILS_PER_ADDRESS_PER_DAY: i64 = 3;

/// Messages a tenant had queued in the last day (sent, failed, cancelled or waiting), and
/// of those, to `recipient`: what the daily mail quotas count. Leaked-key mails are not
/// counted (nor held back by them): they have their own bounds
/// (`key_leaks::LEAK_MAILS_PER_TENANT_PER_DAY`, one an hour per address), so that a
/// burst of revoked keys does not stop a tenant's invitations for a day.
pub fn queued_in_the_last_day(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    tenant_id: &TenantId,
    recipient: &str,
) -> Result<(i64, i64), AppError> {
    let since = now - QUOTA_WINDOW;
    let counted = rows::Kinds::AllBut(MailKind::KeyLeaked.as_str());
    Ok((
        OutboxRow::count_of_tenant_since(conn, tenant_id.as_str(), since, None, counted)?,
        OutboxRow::count_of_tenant_since(
            conn,
            tenant_id.as_str(),
            since,
            Some(recipient),
            counted,
        )?,
    ))
}

/// Messages of `kind` a tenant had queued since `since`, and of those, to `recipient`
/// when given (whatever became of them).
pub fn queued_of_kind_since(
    conn: &mut DbConnection,
    since: PrimitiveDateTime,
    tenant_id: &TenantId,
    kind: MailKind,
    recipient: Option<&str>,
) -> Result<i64, AppError> {
    Ok(OutboxRow::count_of_tenant_since(
        conn,
        tenant_id.as_str(),
        since,
        recipient,
        rows::Kinds::Only(kind.as_str()),
    )?)
}

/// A row this worker holds until its lease ends.
pub struct Claimed {
    pub row: OutboxRow,
    claim: String,
}

/// Claims the oldest due row whose kind starts with `kind_prefix` (`mail.`, `webhook.`:
/// each has its own worker), if any, until `now + lease`.
pub fn claim_next(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    lease: StdDuration,
    kind_prefix: &str,
) -> Result<Option<Claimed>, AppError> {
    for id in OutboxRow::due_ids(conn, now, kind_prefix, CLAIM_CANDIDATES)? {
        if let Some(claimed) = claim_row(conn, &id, now, lease)? {
            return Ok(Some(claimed));
        }
    }
    Ok(None)
}

/// The ids of up to `limit` due rows whose kind starts with `kind_prefix`, oldest first.
pub fn due_ids(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    kind_prefix: &str,
    limit: i64,
) -> Result<Vec<String>, AppError> {
    Ok(OutboxRow::due_ids(conn, now, kind_prefix, limit)?)
}

/// Claims the row `id` until `now + lease`, if it is still due and no other claimant won
/// it first.
pub fn claim_row(
    conn: &mut DbConnection,
    id: &str,
    now: PrimitiveDateTime,
    lease: StdDuration,
) -> Result<Option<Claimed>, AppError> {
    let claim = new_id();
    if OutboxRow::claim(conn, id, &claim, now, later(now, lease))? == 1 {
        if let Some(row) = OutboxRow::find(conn, id)? {
            return Ok(Some(Claimed { row, claim }));
        }
    }
    Ok(None)
}

/// What became of an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    Sent,
    RetryAt(PrimitiveDateTime),
    GaveUp,
    /// The claim ran out before the outcome was recorded; whoever holds the row now
    /// decides (it may be sent again: at least once).
    ClaimLost,
}

/// Records a sent row (its payload emptied).
pub fn record_sent(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    claimed: &Claimed,
) -> Result<Recorded, AppError> {
    Ok(
        match OutboxRow::mark_sent(conn, &claimed.row.id, &claimed.claim, now)? {
            0 => Recorded::ClaimLost,
            _ => Recorded::Sent,
        },
    )
}

/// Records a failed attempt: tried again after the back-off, or given up (payload
/// emptied, `reason` kept) when it was the last attempt or the refusal is `permanent`.
pub fn record_failure(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    claimed: &Claimed,
    timing: &OutboxTiming,
    permanent: bool,
    reason: &str,
) -> Result<Recorded, AppError> {
    let attempts = u32::try_from(claimed.row.attempts).unwrap_or(u32::MAX);
    let (id, claim) = (&claimed.row.id, &claimed.claim);
    if permanent || attempts >= timing.max_attempts {
        let why = if permanent {
            reason.to_string()
        } else {
            format!("gave up after {attempts} attempts; the last: {reason}")
        };
        return Ok(match OutboxRow::mark_failed(conn, id, claim, now, &why)? {
            0 => Recorded::ClaimLost,
            _ => Recorded::GaveUp,
        });
    }
    let at = later(now, backoff(timing.retry_base, attempts));
    Ok(match OutboxRow::mark_retry(conn, id, claim, at, reason)? {
        0 => Recorded::ClaimLost,
        _ => Recorded::RetryAt(at),
    })
}

/// The wait after the `attempts`-th failed attempt: `base`, doubling, at most an hour.
pub fn backoff(base: StdDuration, attempts: u32) -> StdDuration {
    let doublings = attempts.saturating_sub(1).min(20);
    base.saturating_mul(1 << doublings).min(MAX_BACKOFF)
}

/// `now + d`, at most the latest time there is (settings are capped; this holds anyway).
pub(crate) fn later(now: PrimitiveDateTime, d: StdDuration) -> PrimitiveDateTime {
    let d = Duration::microseconds(i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    now.checked_add(d).unwrap_or(PrimitiveDateTime::MAX)
}

/// Now, for claims, due times and their records: the database's clock on PostgreSQL
/// (instances on several machines agree on it; moved as far as `clock` was moved, which
/// only tests do), `clock` on SQLite (one file, one machine).
pub fn claim_now(conn: &mut DbConnection, clock: &Clock) -> Result<PrimitiveDateTime, AppError> {
    Ok(match OutboxRow::database_now(conn)? {
        Some(now) => clock.shifted(crate::domain::clock::truncate_to_micros(now)),
        None => clock.now(),
    })
}

/// How many rows wait to be sent, and how many were given up (not yet deleted).
pub fn depth(conn: &mut DbConnection) -> Result<(i64, i64), AppError> {
    Ok((
        OutboxRow::count_with_status(conn, rows::PENDING)?,
        OutboxRow::count_with_status(conn, rows::FAILED)?,
    ))
}

/// A failed attempt, as admins see it.
#[derive(Debug, Clone)]
pub struct FailureNotice {
    pub kind: String,
    pub recipient: String,
    pub at: PrimitiveDateTime,
    pub reason: String,
    /// `None`: given up; else when it is tried again.
    pub retry_at: Option<PrimitiveDateTime>,
}

/// The outbox as a tenant's admins see it on Team › Settings.
#[derive(Debug, Clone)]
pub struct TenantOutbox {
    pub pending: i64,
    pub given_up: i64,
    /// The tenant's last failed attempt, and whether a send went through after it.
    pub last_failure: Option<FailureNotice>,
    pub last_sent_at: Option<PrimitiveDateTime>,
}

pub fn tenant_outbox(
    conn: &mut DbConnection,
    actor: &Actor,
    tenant_id: &TenantId,
) -> Result<TenantOutbox, AppError> {
    permissions::require(conn, actor, tenant_id, Permission::ManagePeople)?;
    let last = OutboxRow::last_attempted_of_tenant(conn, tenant_id.as_str(), false)?;
    let last_sent_at = last
        .as_ref()
        .filter(|r| r.status == rows::SENT)
        .and_then(|r| r.done_at);
    let last_failure =
        OutboxRow::last_attempted_of_tenant(conn, tenant_id.as_str(), true)?.map(|r| {
            FailureNotice {
                retry_at: (r.status == rows::PENDING).then_some(r.next_attempt_at),
                kind: r.kind,
                recipient: r.recipient,
                at: r.last_attempt_at.unwrap_or(r.created_at),
                reason: r.last_error.unwrap_or_default(),
            }
        });
    Ok(TenantOutbox {
        pending: OutboxRow::count_of_tenant(conn, tenant_id.as_str(), rows::PENDING)?,
        given_up: OutboxRow::count_of_tenant(conn, tenant_id.as_str(), rows::FAILED)?,
        last_failure,
        last_sent_at,
    })
}

/// Housekeeping: deletes rows sent, given up or cancelled more than `KEPT_FOR` ago.
pub fn sweep(conn: &mut DbConnection, now: PrimitiveDateTime) -> Result<usize, AppError> {
    Ok(OutboxRow::delete_done_before(conn, now - KEPT_FOR)?)
}

/// How long a row may wait unsent before housekeeping gives it up: a day, as long as an
/// invitation's link works (a mail that goes later carries a dead link).
pub const PENDING_AT_MOST: Duration = Duration::days(1);

/// Housekeeping: gives up rows waiting for more than `PENDING_AT_MOST` (no worker sends
/// them, e.g. mail was turned off after they were queued), emptying their payload.
pub fn give_up_stale(conn: &mut DbConnection, now: PrimitiveDateTime) -> Result<usize, AppError> {
    Ok(OutboxRow::give_up_pending_before(
        conn,
        now - PENDING_AT_MOST,
        now,
        "not sent within a day (is mail turned off?); given up",
    )?)
}

/// The loop of a worker thread (mail's and webhooks'): runs `step` until `stop` says the
/// server is gone (its sender dropped); at once again after a step that worked, else after
/// `poll`. A database error is logged and tried again after a poll; so is a panic in a
/// step (a bug), which would otherwise end the worker silently.
pub fn run_worker(
    worker: &str,
    poll: StdDuration,
    stop: Receiver<()>,
    step: impl Fn() -> Result<bool, AppError>,
) {
    loop {
        let worked = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(&step)) {
            Ok(Ok(worked)) => worked,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "the {worker} worker could not reach the database; it will try again");
                false
            }
            Err(_) => {
                tracing::error!("a step of the {worker} worker panicked (a bug; the panic is printed above); the worker goes on");
                false
            }
        };
        let wait = if worked { StdDuration::ZERO } else { poll };
        match stop.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// The worker of one instance: claims due rows one at a time and sends them, until `stop`
/// says the server is gone (its sender dropped).
pub struct Worker {
    pub pool: Pool,
    pub clock: Clock,
    pub mailer: Mailer,
    pub timing: OutboxTiming,
}

impl Worker {
    /// Runs on its own thread (see `run_worker`).
    pub fn run(self, stop: Receiver<()>) {
        run_worker("outbox", self.timing.poll, stop, || self.step());
    }

    /// Claims and delivers one row; `false` when none was due.
    fn step(&self) -> Result<bool, AppError> {
        // The whole send must end within its budget (half the lease), counted from here,
        // before the claim: so it ends before the claim runs out.
        let started = Instant::now();
        let claimed = {
            let mut conn = self.pool.get().map_err(AppError::from)?;
            let now = self.claim_now(&mut conn)?;
            claim_next(&mut conn, now, self.timing.lease, "mail.")?
        };
        let Some(claimed) = claimed else {
            return Ok(false);
        };
        // The connection goes back to the pool while the SMTP server is talked to.
        let kind = claimed.row.kind.clone();
        let attempts = u32::try_from(claimed.row.attempts).unwrap_or(u32::MAX);
        let ours = |permanent: bool, reason: String| SendFailure {
            permanent,
            detail: reason.clone(),
            reason,
        };
        let outcome = if attempts > self.timing.max_attempts {
            // Claimed more often than allowed: earlier claimants died mid-send.
            Err(ours(
                true,
                format!("gave up after {} attempts that did not finish (the instances sending it stopped?)", attempts - 1),
            ))
        } else {
            match MailKind::parse(&kind) {
                Some(mail) => self.mailer.send(
                    mail,
                    &claimed.row.recipient,
                    &claimed.row.payload,
                    started + self.timing.send_budget(),
                ),
                None => Err(ours(true, format!("no sender knows the kind \"{kind}\""))),
            }
        };
        if started.elapsed() >= self.timing.lease {
            tracing::warn!(id = %claimed.row.id, kind = %kind, "an outbox send outlasted its lease; another instance may have sent it too");
        }
        let mut conn = self.pool.get().map_err(AppError::from)?;
        let now = self.claim_now(&mut conn)?;
        match outcome {
            Ok(()) => {
                metrics::outbox_sent(&kind);
                let recorded = record_sent(&mut conn, now, &claimed)?;
                tracing::info!(id = %claimed.row.id, kind = %kind, attempt = attempts, ?recorded, "outbox row sent");
            }
            Err(failure) => {
                metrics::outbox_send_failed(&kind);
                let recorded = record_failure(
                    &mut conn,
                    now,
                    &claimed,
                    &self.timing,
                    failure.permanent,
                    &failure.reason,
                )?;
                if recorded == Recorded::GaveUp {
                    metrics::outbox_given_up(&kind);
                }
                // The server's words, addresses removed: for the operator only.
                tracing::warn!(id = %claimed.row.id, kind = %kind, attempt = attempts, reason = %failure.reason, detail = %failure.detail, ?recorded, "outbox send failed");
            }
        }
        Ok(true)
    }

    fn claim_now(&self, conn: &mut DbConnection) -> Result<PrimitiveDateTime, AppError> {
        claim_now(conn, &self.clock)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_back_off_doubles_from_its_base_up_to_an_hour() {
        let base = StdDuration::from_secs(30);
        let waits: Vec<u64> = (1..=9).map(|n| backoff(base, n).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(backoff(base, u32::MAX), MAX_BACKOFF);
    }
}
