//! The periodic clean-up every instance runs: expired sessions, sign-in failures older
//! than throttling looks back, invitations used or expired more than 30 days ago, agents
//! not seen for 30 days, outbox rows sent or given up a week ago (and rows left unsent
//! for a day are given up, their payload emptied), password reset links past their
//! hour, and (when
//! `audit_retention_days` is set) old audit events.
//! Idempotent and cheap, so several instances may run it at the same time.

use crate::db::models::housekeeping as rows;
use crate::db::models::SessionRow;
use crate::db::DbConnection;
use crate::error::AppError;
use crate::services::{guess_limits, sessions};
use time::{Duration, PrimitiveDateTime};

/// How long used or expired invitations stay (to explain a link someone opens late).
pub const INVITATIONS_KEPT_FOR: Duration = Duration::days(30);

/// How often each instance sweeps.
pub const EVERY: std::time::Duration = std::time::Duration::from_secs(10 * 60);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    pub sessions: usize,
    pub sign_in_failures: usize,
    pub invitations: usize,
    pub audit_events: usize,
    /// Agents not seen for `agents::FORGOTTEN_AFTER`.
    pub agents: usize,
    /// Outbox rows sent or given up more than `outbox::KEPT_FOR` ago.
    pub outbox: usize,
    /// Outbox rows given up (and emptied) after waiting unsent `outbox::PENDING_AT_MOST`.
    pub outbox_stale: usize,
    /// Password reset links past their hour.
    pub password_resets: usize,
    /// Pending two-factor sign-ins past their five minutes.
    pub pending_sign_ins: usize,
    /// Webhook messages (and their attempts) older than `webhooks::KEPT_FOR`.
    pub webhook_messages: usize,
}

impl Swept {
    pub fn total(&self) -> usize {
        self.sessions
            + self.sign_in_failures
            + self.invitations
            + self.audit_events
            + self.agents
            + self.outbox
            + self.outbox_stale
            + self.password_resets
            + self.pending_sign_ins
            + self.webhook_messages
    }
}

/// Deletes what is no longer needed at `now`. Each delete is its own statement: no
/// long transaction holds the SQLite write lock.
pub fn sweep(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    audit_retention_days: Option<i64>,
) -> Result<Swept, AppError> {
    let swept = Swept {
        sessions: SessionRow::delete_timed_out(conn, now, now - sessions::IDLE_TIMEOUT)?,
        // A failure counts for `WINDOW`, and a lockout lasts `LOCKOUT` after the last one;
        // the notices that a lock's refusals were audited go at the same age.
        sign_in_failures: guess_limits::sweep(conn, now)?,
        invitations: rows::delete_invitations_done_before(conn, now - INVITATIONS_KEPT_FOR)?,
        audit_events: match audit_retention_days {
            Some(days) => rows::delete_audit_events_before(conn, now - Duration::days(days))?,
            None => 0,
        },
        agents: crate::db::models::agent::Agent::delete_all_unseen_since(
            conn,
            now - crate::services::agents::FORGOTTEN_AFTER,
        )?,
        outbox: crate::services::outbox::sweep(conn, now)?,
        outbox_stale: crate::services::outbox::give_up_stale(conn, now)?,
        password_resets: crate::services::recovery::sweep(conn, now)?,
        pending_sign_ins: crate::services::two_factor::sweep(conn, now)?,
        webhook_messages: crate::services::webhooks::sweep(conn, now)?,
    };
    if swept.total() > 0 {
        tracing::info!(
            sessions = swept.sessions,
            sign_in_failures = swept.sign_in_failures,
            invitations = swept.invitations,
            audit_events = swept.audit_events,
            agents = swept.agents,
            outbox = swept.outbox,
            outbox_stale = swept.outbox_stale,
            password_resets = swept.password_resets,
            pending_sign_ins = swept.pending_sign_ins,
            webhook_messages = swept.webhook_messages,
            "housekeeping deleted old rows"
        );
    }
    Ok(swept)
}
