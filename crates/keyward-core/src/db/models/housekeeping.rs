//! The deletes of the periodic clean-up that no model owns (sessions and sign-in failures
//! have theirs beside their rows): each one statement over an indexed time column,
//! so running it often, or on several instances at once, stays cheap and harmless.

use crate::db::schema::{audit_events, invitations};
use crate::db::DbConnection;
use diesel::prelude::*;
use time::PrimitiveDateTime;

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
