//! The authentication pipeline of DESIGN §4, after the header has been parsed into a
//! `PlainToken` (format and checksum, no I/O): digest → one indexed query → expiry →
//! tenant header → `Principal`. No cache: revocation counts on the next request.

use crate::db::models::ApiKey;
use crate::db::DbConnection;
use crate::domain::clock::rfc3339;
use crate::domain::{ids::parse_id, PlainToken};
use crate::error::AppError;
use crate::services::Principal;
use time::PrimitiveDateTime;

pub const UNKNOWN_OR_REVOKED: &str = "this API key is not valid: it is unknown or has been revoked";

pub fn authenticate(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    token: &PlainToken,
    tenant_headers: &[String],
    ip: Option<&str>,
) -> Result<Principal, AppError> {
    let digest = token.digest();
    let (key, account, membership) = ApiKey::authenticate(conn, digest.as_str())?
        .ok_or_else(|| AppError::unauthenticated(UNKNOWN_OR_REVOKED))?;
    if let Some(at) = key.expires_at.filter(|&at| at <= now) {
        return Err(AppError::unauthenticated(format!(
            "this API key expired at {}; create a new one",
            rfc3339(at)
        )));
    }
    for raw in tenant_headers {
        let matches = parse_id("tenant", raw).is_ok_and(|t| t == key.tenant_id);
        if !matches {
            return Err(AppError::unauthenticated(
                "this API key does not belong to the tenant named in the tenant header; a Keyward key serves exactly one tenant",
            ));
        }
    }
    // At most one write a minute per key; a fresh enough key takes no write lock at all.
    if key
        .last_used_at
        .is_none_or(|t| t <= now - time::Duration::minutes(1))
    {
        // Best effort: a busy database must not turn a valid key away.
        if let Err(e) = ApiKey::touch(conn, &key.id, now, ip) {
            tracing::warn!(error = %e, key_id = %key.id, "could not record the key's last use");
        }
    }
    Ok(Principal {
        account_kind: account.kind(),
        account_id: account.id,
        tenant_id: key.tenant_id,
        role: membership.role(),
        key_id: key.id,
    })
}
