//! Per-key IP allow-lists: setting them (whoever may revoke the key may) and the check on
//! the key path, which is a pure function of what the key's one query already read.
//! A refusal is audited at most once a minute per key, so a misconfigured client cannot
//! flood the audit log.

use crate::db::models::ApiKey;
use crate::db::DbConnection;
use crate::domain::{AllowedIps, ApiKeyId, AuditAction};
use crate::error::AppError;
use crate::services::api_keys::{find_revocable, KeyScope};
use crate::services::audit::{self, Event};
use crate::services::{transaction, Actor, Principal};
use std::net::IpAddr;
use time::PrimitiveDateTime;

/// The refusal, naming the address the request came from.
pub fn not_allowed_from(ip: Option<&str>) -> AppError {
    AppError::unauthenticated(format!(
        "this API key may not be used from {}: the address is not in the key's IP allow-list",
        ip.unwrap_or("an unknown address")
    ))
}

/// The key path's check: `Ok` when the key has no list or `ip` is in it.
pub fn check(allowed_ips: Option<&str>, ip: Option<&str>) -> Result<(), AppError> {
    if allowed_ips.is_none() {
        return Ok(());
    }
    let list = AllowedIps::from_stored(allowed_ips);
    match ip.and_then(|ip| ip.parse::<IpAddr>().ok()) {
        Some(addr) if list.allows(addr) => Ok(()),
        _ => Err(not_allowed_from(ip)),
    }
}

/// Whether a refusal now may need auditing, from what the key's read saw (the claim in
/// `audit_refusal` decides between instances).
pub fn refusal_audit_due(last: Option<PrimitiveDateTime>, now: PrimitiveDateTime) -> bool {
    last.is_none_or(|at| at <= now - time::Duration::minutes(1))
}

/// Writes the refusal's audit event unless one was written for this key in the last
/// minute (by any instance). Best effort: the request is refused either way.
pub fn audit_refusal(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    principal: &Principal,
    ip: Option<&str>,
) {
    let result = transaction(conn, |conn| {
        if !ApiKey::claim_ip_refusal_audit(conn, principal.key_id().as_str(), now)? {
            return Ok(());
        }
        audit::record_system(
            conn,
            &Actor::api_key(principal.clone(), ip.map(str::to_string)),
            now,
            Event {
                tenant_id: Some(principal.tenant_id().as_str()),
                action: AuditAction::RefusedIp,
                target_id: Some(principal.key_id().as_str()),
                detail: format!(
                    "a request from {} was refused: not in the key's IP allow-list (recorded at most once a minute)",
                    ip.unwrap_or("an unknown address")
                ),
            },
        )
    });
    if let Err(e) = result {
        tracing::warn!(error = %e, key_id = %principal.key_id(), "could not audit a refusal by IP allow-list");
    }
}

/// Through an API key a list only narrows: whatever key it sets, the new list must lie
/// within the acting key's own list, so a key limited to some addresses can neither lift
/// its own list nor give another key (one it made, say) a wider one. A key that may be
/// used anywhere reaches nothing more by setting lists; a person on the dashboard may
/// set any list.
fn only_narrowed_through_a_key(
    conn: &mut DbConnection,
    actor: &Actor,
    key: &ApiKey,
    allowed: &AllowedIps,
) -> Result<(), AppError> {
    let Some(acting_id) = actor.key_id() else {
        return Ok(());
    };
    let acting = if *acting_id == key.id {
        key.allowed_ips.clone()
    } else {
        ApiKey::find(conn, acting_id.as_str())?.and_then(|k| k.allowed_ips)
    };
    let acting = AllowedIps::from_stored(acting.as_deref());
    if allowed.is_within(&acting) {
        return Ok(());
    }
    Err(AppError::invalid(
        "allowed_ips",
        format!(
            "through an API key an allow-list can only be narrowed: list only addresses within the calling key's own list ({}); a person can widen it on the dashboard",
            acting.texts().join(", ")
        ),
    ))
}

/// Replaces a key's allow-list (empty: anywhere). Whoever may revoke the key may; any
/// other key, or one outside `scope` (a team page's tenant and service account),
/// answers NOT_FOUND, as revocation does.
pub fn set_api_key_allowed_ips(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    key_id: &ApiKeyId,
    scope: Option<KeyScope<'_>>,
    allowed: &AllowedIps,
) -> Result<ApiKey, AppError> {
    transaction(conn, |conn| {
        let mut key = find_revocable(conn, actor, key_id, scope)?;
        only_narrowed_through_a_key(conn, actor, &key, allowed)?;
        let stored = allowed.to_stored();
        ApiKey::set_allowed_ips(conn, &key.id, stored.as_deref())?;
        audit::record(
            conn,
            actor,
            now,
            Event {
                tenant_id: Some(&key.tenant_id),
                action: AuditAction::AllowedIpsChanged,
                target_id: Some(&key.id),
                detail: format!(
                    "key \"{}\" ({}) may now be used from {}",
                    key.name,
                    key.display_hint,
                    stored.as_deref().unwrap_or("anywhere")
                ),
            },
        )?;
        key.allowed_ips = stored;
        Ok(key)
    })
}
