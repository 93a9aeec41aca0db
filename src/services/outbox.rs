//! The one outbox: messages (mails today, webhook deliveries later) written in the
//! transaction of the action that causes them, and delivered by a background worker on
//! every instance, never by a request. See docs/MAIL.md.
//!
//! - **Claims with a lease.** A worker claims a due row with one conditional UPDATE that
//!   moves its `next_attempt_at` to the end of a lease; of several instances on one
//!   PostgreSQL exactly one wins each row. A claim of an instance that died runs out and
//!   the row is due again: delivery is **at least once** (an instance killed after the SMTP
//!   server accepted a mail but before it recorded so sends it again) and **unordered**.
//! - **Retries with back-off.** A failed attempt is retried after `retry_base`, doubling
//!   each time (at most an hour); after `max_attempts`, or at once when the server refuses
//!   for good, the row is given up and keeps why (`last_error`), which tenant admins see
//!   on Team › Settings.
//! - **Secrets kept only while needed.** A mail's body (which may carry a one-time link)
//!   is stored until the row is sent or given up, then emptied. Logs name rows by id and
//!   kind only: never a body, a link or an address.
//! - **Bounded.** Rows sent or given up are deleted by housekeeping after `KEPT_FOR`.

use crate::config::OutboxTiming;
use crate::db::models::outbox::{self as rows, OutboxRow};
use crate::db::{DbConnection, Pool};
use crate::domain::{new_id, Clock};
use crate::error::AppError;
use crate::services::mail::{MailKind, Mailer};
use crate::services::permissions::{self, Permission};
use crate::services::Actor;
use crate::telemetry::metrics;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration as StdDuration;
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

/// Drops the unsent messages about `about_id` (an invitation revoked before its mail went).
pub(crate) fn cancel_about(conn: &mut DbConnection, about_id: &str) -> Result<usize, AppError> {
    Ok(OutboxRow::delete_pending_about(conn, about_id)?)
}

/// A row this worker holds until its lease ends.
pub struct Claimed {
    pub row: OutboxRow,
    claim: String,
}

/// Claims the oldest due row, if any, until `now + lease`.
pub fn claim_next(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    lease: StdDuration,
) -> Result<Option<Claimed>, AppError> {
    let lease_until = now + to_time(lease);
    for id in OutboxRow::due_ids(conn, now, CLAIM_CANDIDATES)? {
        let claim = new_id();
        if OutboxRow::claim(conn, &id, &claim, now, lease_until)? == 1 {
            if let Some(row) = OutboxRow::find(conn, &id)? {
                return Ok(Some(Claimed { row, claim }));
            }
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
    let at = now + to_time(backoff(timing.retry_base, attempts));
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

fn to_time(d: StdDuration) -> Duration {
    Duration::microseconds(i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
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
    tenant_id: &str,
) -> Result<TenantOutbox, AppError> {
    permissions::require(conn, actor, tenant_id, Permission::ManagePeople)?;
    let last = OutboxRow::last_attempted_of_tenant(conn, tenant_id, false)?;
    let last_sent_at = last
        .as_ref()
        .filter(|r| r.status == rows::SENT)
        .and_then(|r| r.done_at);
    let last_failure =
        OutboxRow::last_attempted_of_tenant(conn, tenant_id, true)?.map(|r| FailureNotice {
            retry_at: (r.status == rows::PENDING).then_some(r.next_attempt_at),
            kind: r.kind,
            recipient: r.recipient,
            at: r.last_attempt_at.unwrap_or(r.created_at),
            reason: r.last_error.unwrap_or_default(),
        });
    Ok(TenantOutbox {
        pending: OutboxRow::count_of_tenant(conn, tenant_id, rows::PENDING)?,
        given_up: OutboxRow::count_of_tenant(conn, tenant_id, rows::FAILED)?,
        last_failure,
        last_sent_at,
    })
}

/// Housekeeping: deletes rows sent or given up more than `KEPT_FOR` ago.
pub fn sweep(conn: &mut DbConnection, now: PrimitiveDateTime) -> Result<usize, AppError> {
    Ok(OutboxRow::delete_done_before(conn, now - KEPT_FOR)?)
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
    /// Runs on its own thread. A database error is logged and tried again after a poll.
    pub fn run(self, stop: Receiver<()>) {
        loop {
            let worked = match self.step() {
                Ok(worked) => worked,
                Err(e) => {
                    tracing::warn!(error = %e, "the outbox worker could not reach the database; it will try again");
                    false
                }
            };
            let wait = if worked {
                StdDuration::ZERO
            } else {
                self.timing.poll
            };
            match stop.recv_timeout(wait) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// Claims and delivers one row; `false` when none was due.
    fn step(&self) -> Result<bool, AppError> {
        let claimed = {
            let mut conn = self.pool.get().map_err(AppError::from)?;
            claim_next(&mut conn, self.clock.now(), self.timing.lease)?
        };
        let Some(claimed) = claimed else {
            return Ok(false);
        };
        // The connection goes back to the pool while the SMTP server is talked to.
        let kind = claimed.row.kind.clone();
        let attempts = u32::try_from(claimed.row.attempts).unwrap_or(u32::MAX);
        let outcome = if attempts > self.timing.max_attempts {
            // Claimed more often than allowed: earlier claimants died mid-send.
            Err((
                true,
                format!("gave up after {} attempts that did not finish (the instances sending it stopped?)", attempts - 1),
            ))
        } else {
            match MailKind::parse(&kind) {
                Some(mail) => self
                    .mailer
                    .send(mail, &claimed.row.recipient, &claimed.row.payload)
                    .map_err(|f| (f.permanent, f.reason)),
                None => Err((true, format!("no sender knows the kind \"{kind}\""))),
            }
        };
        let mut conn = self.pool.get().map_err(AppError::from)?;
        let now = self.clock.now();
        match outcome {
            Ok(()) => {
                metrics::outbox_sent(&kind);
                let recorded = record_sent(&mut conn, now, &claimed)?;
                tracing::info!(id = %claimed.row.id, kind = %kind, attempt = attempts, ?recorded, "outbox row sent");
            }
            Err((permanent, reason)) => {
                metrics::outbox_send_failed(&kind);
                let recorded =
                    record_failure(&mut conn, now, &claimed, &self.timing, permanent, &reason)?;
                if recorded == Recorded::GaveUp {
                    metrics::outbox_given_up(&kind);
                }
                tracing::warn!(id = %claimed.row.id, kind = %kind, attempt = attempts, reason = %reason, ?recorded, "outbox send failed");
            }
        }
        Ok(true)
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
