//! The deletes of the periodic clean-up: each one statement over an indexed time column,
//! so running it often, or on several instances at once, stays cheap and harmless.

use crate::db::schema::{audit_events, invitations, sessions, sign_in_failures};
use crate::db::DbConnection;
use diesel::prelude::*;
use time::PrimitiveDateTime;

/// Sessions past their absolute limit, or idle since `idle_before`.
pub fn delete_expired_sessions(
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

pub fn delete_sign_in_failures_before(
    conn: &mut DbConnection,
    before: PrimitiveDateTime,
) -> QueryResult<usize> {
    diesel::delete(sign_in_failures::table.filter(sign_in_failures::at.lt(before))).execute(conn)
}

/// Invitations used, or expired, before `before`.
pub fn delete_invitations_done_before(
    conn: &mut DbConnection,
    before: PrimitiveDateTime,
) -> QueryResult<usize> {
    diesel::delete(
        invitations::table.filter(
            invitations::used_at
                .lt(before)
                .or(invitations::expires_at.lt(before)),
        ),
    )
    .execute(conn)
}

pub fn delete_audit_events_before(
    conn: &mut DbConnection,
    before: PrimitiveDateTime,
) -> QueryResult<usize> {
    diesel::delete(audit_events::table.filter(audit_events::at.lt(before))).execute(conn)
}
