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

/// Keys expiring within this many days are flagged on every list.
pub const WARN_DAYS: i64 = 7;
/// The longest look-ahead `expiring_api_keys` accepts.
pub const MAX_WITHIN_DAYS: i32 = 366;
/// At most this many rows per answer (the soonest first).
const MAX_ROWS: i64 = 1_000;

/// Not expired yet, and expiring within `WARN_DAYS`. A rotated key is meant to stop, so
/// it is not warned about (its badge says "Rotating").
pub fn expires_soon(key: &ApiKey, now: PrimitiveDateTime) -> bool {
    key.rotated_to_key_id.is_none()
        && key
            .expires_at
            .is_some_and(|at| at > now && at < now + Duration::days(WARN_DAYS))
}

/// What the actor sees expiring within `within_days`: not expired yet, not rotated (a
/// rotated key is meant to stop); its own keys and every service-account key of the
/// tenants it administers.
fn expiring_within(now: PrimitiveDateTime, within_days: i32) -> Result<KeyWhere, AppError> {
    if !(1..=MAX_WITHIN_DAYS).contains(&within_days) {
        return Err(InvalidInput::new(
            "within_days",
            format!("must be between 1 and {MAX_WITHIN_DAYS}"),
        )
        .into());
    }
    Ok(KeyWhere {
        unexpired_at: Some(now),
        expires_before: Some(now + Duration::days(within_days.into())),
        rotated: Some(false),
        ..KeyWhere::default()
    })
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
