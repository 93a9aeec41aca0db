//! Rotation with overlap (issue 14), as Stripe and Unkey do it: a new key with the same
//! owner, name, tenant and scope, shown once; the old key keeps working until
//! `now + overlap`, then is refused as expired. Allowed to whoever may revoke the old key.

use crate::db::models::key_policy::TenantKeyPolicy;
use crate::db::models::{key_lineage, Account, ApiKey};
use crate::db::{lock_tenant, DbConnection};
use crate::domain::clock::rfc3339;
use crate::domain::key_policy::OVERLAP_HOURS;
use crate::domain::{new_id, ApiKeyId, AuditAction, ExpiresAt, InvalidInput, KeyPolicy, Quotas};
use crate::error::AppError;
use crate::services::api_keys::{self, CreatedApiKey, KeyScope, KeyToIssue};
use crate::services::audit::{self, Event};
use crate::services::{key_notices, permissions, transaction, webhooks, Actor};
use time::{Duration, PrimitiveDateTime};

/// How long the old key keeps working: none, 1 hour, 24 hours or 7 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overlap(i32);

impl Overlap {
    pub fn hours(hours: i32) -> Result<Self, InvalidInput> {
        if OVERLAP_HOURS.contains(&hours) {
            Ok(Self(hours))
        } else {
            Err(InvalidInput::new(
                "overlap_hours",
                "must be 0 (none), 1, 24 or 168 (7 days)",
            ))
        }
    }

    pub fn get(self) -> Duration {
        Duration::hours(self.0.into())
    }
}

/// When the new key expires. GitHub's Regenerate asks, offering the old lifetime again:
/// `SameLifetime` is the old key's lifetime counted from now, cut to the tenant's policy;
/// `Chosen` is picked in the rotate dialog or `rotate_api_key_input` (`None`: never) and
/// must keep the policy like any new key's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuccessorExpiry {
    SameLifetime,
    Chosen(Option<ExpiresAt>),
}

/// What the rotate dialog says before anything changes.
#[derive(Debug, Clone)]
pub struct RotationPreview {
    /// The new key's expiry with `SameLifetime` (`None`: never); `Err` when the policy
    /// refuses it (every key must expire, and the old one never does).
    pub same_lifetime: Result<Option<PrimitiveDateTime>, String>,
    pub policy: KeyPolicy,
}

/// The new key (its secret shown once) and when the old one stops.
#[derive(Debug)]
pub struct RotatedApiKey {
    pub created: CreatedApiKey,
    pub old_key_id: String,
    pub old_key_expires_at: PrimitiveDateTime,
}

const NOT_FOUND: &str = "API key not found";

/// Rotates a key. Any key the actor may not revoke answers NOT_FOUND, as revocation does.
pub fn rotate_api_key(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    key_id: &ApiKeyId,
    (overlap, expiry): (Overlap, SuccessorExpiry),
    quotas: &Quotas,
    scope: Option<KeyScope<'_>>,
) -> Result<RotatedApiKey, AppError> {
    transaction(conn, |conn| {
        let found = ApiKey::find(conn, key_id.as_str())?
            .filter(|k| scope.is_none_or(|s| s.holds(k)))
            .ok_or_else(|| AppError::not_found(NOT_FOUND))?;
        // Two rotations of one key at once: the second reads the key again under the
        // tenant's lock and finds it rotated (and `mark_rotated` changes a key only once).
        lock_tenant(conn, &found.tenant_id)?;
        let old = ApiKey::find(conn, key_id.as_str())?
            .filter(|k| scope.is_none_or(|s| s.holds(k)))
            .ok_or_else(|| AppError::not_found(NOT_FOUND))?;
        if !permissions::may_revoke_key(conn, actor, &old)? {
            return Err(AppError::not_found(NOT_FOUND));
        }
        if old.rotated_to_key_id.is_some() {
            return Err(already_rotated());
        }
        if old.is_expired(now) {
            return Err(AppError::invalid(
                "key_id",
                "this key has expired, so it cannot be rotated; create a new key instead",
            ));
        }
        let account =
            Account::find(conn, &old.account_id)?.ok_or_else(|| AppError::not_found(NOT_FOUND))?;
        let tenant_id = old.tenant();
        api_keys::check_key_quota(conn, &account, &tenant_id, quotas)?;
        let policy = TenantKeyPolicy::of(conn, &old.tenant_id)?;
        let expires_at = match expiry {
            SuccessorExpiry::SameLifetime => {
                same_lifetime(&policy, &old, now).map_err(|m| AppError::invalid("expires_at", m))?
            }
            SuccessorExpiry::Chosen(at) => {
                let at = at.map(ExpiresAt::get);
                policy.check(now, at)?;
                at
            }
        };
        // Read before `mark_rotated`: a key rotating itself passes on what it was.
        let acting_limits = api_keys::ActingKeyLimits::of(conn, actor)?;
        let stops_at = old
            .expires_at
            .map_or(now + overlap.get(), |at| at.min(now + overlap.get()));
        let new_id = new_id();
        // First hand the name over: the successor takes it.
        if key_lineage::mark_rotated(conn, &old.id, &new_id, stops_at)? == 0 {
            return Err(already_rotated());
        }
        let mut successor = KeyToIssue {
            id: new_id.clone(),
            account: &account,
            tenant_id: &tenant_id,
            name: old.name.clone(),
            expires_at,
            read_only: old.read_only,
            allowed_ips: old.allowed_ips.clone(),
            note: format!(", rotated from key {}", old.id),
            description: old.description.clone(),
        };
        if let Some(limits) = &acting_limits {
            limits.apply(&mut successor)?;
        }
        let created = api_keys::issue_key(conn, actor, now, successor)?;
        // A rotation mints a key like a creation does: the same notice and event.
        key_notices::notify_key_created(conn, actor, now, &created.key, &account, Some(&old))?;
        webhooks::enqueue_event(
            conn,
            now,
            &old.tenant(),
            webhooks::WebhookEvent::ApiKeyCreated,
            {
                let mut data = webhooks::key_data(&created.key, &account);
                data["rotated_from_key_id"] = old.id.clone().into();
                data
            },
        )?;
        audit::record(
            conn,
            actor,
            now,
            Event {
                tenant_id: Some(&old.tenant_id),
                action: AuditAction::ApiKeyRotated,
                target_id: Some(&old.id),
                detail: format!(
                    "key \"{}\" ({}) rotated to key {} ({}); the old key stops at {}",
                    old.name,
                    old.display_hint,
                    new_id,
                    created.key.display_hint,
                    rfc3339(stops_at)
                ),
            },
        )?;
        Ok(RotatedApiKey {
            created,
            old_key_id: old.id,
            old_key_expires_at: stops_at,
        })
    })
}

fn already_rotated() -> AppError {
    AppError::Conflict(
        "this key was already rotated; rotate its successor (the key of the same name) instead"
            .into(),
    )
}

/// The rotate dialog's facts for a key the actor may rotate (any other: NOT_FOUND).
pub fn preview(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    key_id: &ApiKeyId,
) -> Result<RotationPreview, AppError> {
    let old = ApiKey::find(conn, key_id.as_str())?.ok_or_else(|| AppError::not_found(NOT_FOUND))?;
    if !permissions::may_revoke_key(conn, actor, &old)? {
        return Err(AppError::not_found(NOT_FOUND));
    }
    let policy = TenantKeyPolicy::of(conn, &old.tenant_id)?;
    Ok(RotationPreview {
        same_lifetime: same_lifetime(&policy, &old, now),
        policy,
    })
}

/// The successor lives as long as the old key was meant to (a 30-day key rotates to a
/// fresh 30-day key), cut to the tenant's policy; a key that never expired keeps never
/// expiring unless the policy caps lifetimes, when it gets the longest allowed.
fn same_lifetime(
    policy: &KeyPolicy,
    old: &ApiKey,
    now: PrimitiveDateTime,
) -> Result<Option<PrimitiveDateTime>, String> {
    let wanted = old.expires_at.map(|at| now + (at - old.created_at));
    let latest = policy.latest_expiry(now);
    let expires_at = match (wanted, latest) {
        (Some(w), Some(l)) => Some(w.min(l)),
        (None, Some(l)) => Some(l),
        (w, None) => w,
    };
    policy.check(now, expires_at).map_err(|_| {
        "this tenant's key policy requires every key to expire, and this key never does; choose when the new key expires".to_string()
    })?;
    Ok(expires_at)
}
