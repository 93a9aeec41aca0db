//! Expiry warnings (issue 14): keys that stop working within a few days, as GitHub and
//! GitLab warn before a token expires. The rule only; the lists of expiring keys are
//! `key_lists`' (`expiring_api_keys`, `expiring_soon_summary`).

use crate::db::models::api_key_list::KeyWhere;
use crate::db::models::ApiKey;
use time::{Duration, PrimitiveDateTime};

/// "Expiring soon" — one definition for the dashboard's badge, its "Expiring within 7
/// days" filter and banner, GraphQL's `ApiKey.expiring_soon` and `expiring_api_keys`
/// (and so the client's `keys expiring`): the key still works, and it stops within
/// `WARN_DAYS` — fewer than 7 × 24 hours left, less the minute the dashboard rounds up
/// (see `views::relative`), so a key made a moment ago "for 7 days" reads "in 7 days"
/// and is not flagged, while one that reads "in 6 days" is. A rotated key counts: it
/// stops too (its badge says "Rotating — stops at …" instead of "Expires soon").
pub const WARN_DAYS: i64 = 7;
/// The longest look-ahead `key_lists::expiring_api_keys` accepts.
pub const MAX_WITHIN_DAYS: i32 = 366;

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
