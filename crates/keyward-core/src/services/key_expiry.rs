//! Expiry warnings (issue 14): keys that stop working within a few days, as GitHub and
//! GitLab warn before a token expires.

use crate::db::models::api_key::ApiKeyListing;
use crate::db::models::api_key_list::{KeyOrder, KeyOrderField, KeyPage, KeyWhere};
use crate::db::models::ApiKey;
use crate::db::DbConnection;
use crate::domain::InvalidInput;
use crate::error::AppError;
use crate::services::{key_lists, Actor};
use time::{Duration, PrimitiveDateTime};

/// "Expiring soon" — one definition for the dashboard's badge, its "Expiring within 7
/// days" filter and banner, GraphQL's `ApiKey.expiring_soon` and `expiring_api_keys`
/// (and so the client's `keys expiring`): the key still works, and it stops within
/// `WARN_DAYS` — fewer than 7 × 24 hours left, less the minute the dashboard rounds up
/// (see `views::relative`), so a key made a moment ago "for 7 days" reads "in 7 days"
/// and is not flagged, while one that reads "in 6 days" is. A rotated key counts: it
/// stops too (its badge says "Rotating — stops at …" instead of "Expires soon").
pub const WARN_DAYS: i64 = 7;
/// The longest look-ahead `expiring_api_keys` accepts.
pub const MAX_WITHIN_DAYS: i32 = 366;
/// At most this many rows per answer (the soonest first).
const MAX_ROWS: i64 = 1_000;

/// The instant a key must expire before to count as expiring within `days` at `now`.
pub fn soon_before(now: PrimitiveDateTime, days: i64) -> PrimitiveDateTime {
    now + Duration::days(days) - Duration::minutes(1)
}

/// Whether a key that expires at `expires_at` is expiring soon at `now` (see `WARN_DAYS`).
pub fn is_expiring_soon(expires_at: Option<PrimitiveDateTime>, now: PrimitiveDateTime) -> bool {
    expires_at.is_some_and(|at| at > now && at < soon_before(now, WARN_DAYS))
}

/// See `WARN_DAYS`.
pub fn expires_soon(key: &ApiKey, now: PrimitiveDateTime) -> bool {
    is_expiring_soon(key.expires_at, now)
}

/// The same rule as a list filter, over `days` (`WARN_DAYS` for "expiring soon").
pub fn expiring_where(w: &mut KeyWhere, now: PrimitiveDateTime, days: i64) {
    w.unexpired_at = Some(now);
    w.expires_before = Some(soon_before(now, days));
}

/// What the actor sees expiring within `within_days` (see `WARN_DAYS`): its own keys and
/// every service-account key of the tenants it administers.
fn expiring_within(now: PrimitiveDateTime, within_days: i32) -> Result<KeyWhere, AppError> {
    if !(1..=MAX_WITHIN_DAYS).contains(&within_days) {
        return Err(InvalidInput::new(
            "within_days",
            format!("must be between 1 and {MAX_WITHIN_DAYS}"),
        )
        .into());
    }
    let mut w = KeyWhere::default();
    expiring_where(&mut w, now, within_days.into());
    Ok(w)
}

/// The soonest first.
fn soonest(limit: i64) -> KeyPage {
    KeyPage::Offset {
        limit,
        offset: 0,
        order: KeyOrder {
            field: KeyOrderField::ExpiresAt,
            descending: false,
        },
    }
}

/// The keys expiring within `within_days` (see `expiring_within`), the soonest first, at
/// most `MAX_ROWS`.
pub fn expiring_api_keys(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    within_days: i32,
) -> Result<Vec<ApiKeyListing>, AppError> {
    let filter = expiring_within(now, within_days)?;
    key_lists::visible_api_keys(conn, actor, &filter, &soonest(MAX_ROWS))
}

/// How many keys expire within `WARN_DAYS`, and the first `named` of them (the soonest):
/// the dashboard's banner, which names a few and counts the rest.
pub fn expiring_soon_summary(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    named: i64,
) -> Result<(i64, Vec<ApiKeyListing>), AppError> {
    let filter = expiring_within(now, WARN_DAYS as i32)?;
    let total = key_lists::count_visible_api_keys(conn, actor, &filter)?;
    if total == 0 {
        return Ok((0, Vec::new()));
    }
    let first = key_lists::visible_api_keys(conn, actor, &filter, &soonest(named))?;
    Ok((total, first))
}
