//! The authentication pipeline of DESIGN §4, after the header has been parsed into a
//! `PlainToken` (format and checksum, no I/O): digest → one indexed query → expiry →
//! tenant header → `Principal`. No cache: revocation counts on the next request.
//!
//! `verify` only reads, so it can run wherever reads are cheap (see
//! `db::key_reader`); `record_use` is the write that follows at most once a minute per
//! key.

use crate::db::models::agent::{self, Agent};
use crate::db::models::api_key::KeyCheck;
use crate::db::models::ApiKey;
use crate::db::{DbConnection, KeyReader};
use crate::domain::clock::rfc3339;
use crate::domain::{ids::parse_id, AccountKind, AuditAction, PlainToken, Role};
use crate::error::AppError;
use crate::services::Principal;
use crate::telemetry::metrics::{self, AuthFailure};
use time::PrimitiveDateTime;

pub const UNKNOWN_OR_REVOKED: &str = "this API key is not valid: it is unknown or has been revoked";

/// The whole pipeline on one connection: `verify`, then `record_use` when due.
pub fn authenticate(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    token: &PlainToken,
    tenant_headers: &[String],
    ip: Option<&str>,
) -> Result<Principal, AppError> {
    let verdict = verify(conn, now, token, tenant_headers)?;
    crate::services::ip_allow::check(verdict.allowed_ips.as_deref(), ip)?;
    if verdict.use_to_record {
        record_use(conn, now, &verdict.principal, ip);
    }
    Ok(verdict.principal)
}

/// What `verify` found: who the key authenticates as, and whether its last use is
/// old enough to be recorded again.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub principal: Principal,
    pub use_to_record: bool,
    /// The key's IP allow-list and its last audited refusal (`services::ip_allow`).
    pub allowed_ips: Option<String>,
    pub ip_refusal_audited_at: Option<PrimitiveDateTime>,
}

/// Checks the key against the database; reads only.
pub fn verify(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    token: &PlainToken,
    tenant_headers: &[String],
) -> Result<Verdict, AppError> {
    let digest = token.digest();
    let Some(found) = ApiKey::authenticate(conn, digest.as_str())? else {
        metrics::auth_failure(AuthFailure::UnknownOrRevoked);
        let reason = revocation_reason(conn, digest.as_str())?;
        return Err(AppError::unauthenticated(
            reason.unwrap_or_else(|| UNKNOWN_OR_REVOKED.to_string()),
        ));
    };
    judge(found, now, tenant_headers)
}

/// `verify` on PostgreSQL's pipelined connection (`db::key_pipeline`), with no thread
/// hand-off; `None` when it cannot answer there (the key not found, or that connection
/// unusable): then `verify` on the blocking pool decides, with its messages and retries.
pub async fn verify_pipelined(
    keys: &KeyReader,
    now: PrimitiveDateTime,
    token: &PlainToken,
    tenant_headers: &[String],
) -> Option<Result<Verdict, AppError>> {
    let found = keys.authenticate_pipelined(token.digest().as_str()).await?;
    Some(judge(found, now, tenant_headers))
}

/// The rules past the read: expiry, then the tenant headers.
fn judge(
    key: KeyCheck,
    now: PrimitiveDateTime,
    tenant_headers: &[String],
) -> Result<Verdict, AppError> {
    if let Some(at) = key.expires_at.filter(|&at| at <= now) {
        metrics::auth_failure(AuthFailure::Expired);
        return Err(AppError::unauthenticated(format!(
            "this API key expired at {}; create a new one",
            rfc3339(at)
        )));
    }
    for raw in tenant_headers {
        let matches = parse_id("tenant", raw).is_ok_and(|t| t == key.tenant_id);
        if !matches {
            metrics::auth_failure(AuthFailure::TenantMismatch);
            return Err(AppError::unauthenticated(
                "this API key does not belong to the tenant named in the tenant header; a Keyward key serves exactly one tenant",
            ));
        }
    }
    // At most one write a minute per key; a fresh enough key takes no write lock at all.
    let use_to_record = key
        .last_used_at
        .is_none_or(|t| t <= now - time::Duration::minutes(1));
    Ok(Verdict {
        principal: Principal {
            // As `Account::kind` reads it.
            account_kind: AccountKind::parse(&key.account_type).unwrap_or(AccountKind::User),
            account_id: crate::domain::AccountId::from_stored(key.account_id),
            tenant_id: crate::domain::TenantId::from_stored(key.tenant_id),
            role: Role::from_stored(&key.role),
            key_id: crate::domain::ApiKeyId::from_stored(key.key_id),
            key_name: key.key_name,
            read_only: key.read_only,
        },
        use_to_record,
        allowed_ips: key.allowed_ips,
        ip_refusal_audited_at: key.ip_refusal_audited_at,
    })
}

/// Records the key's use (time and address) unless another request did within the
/// minute. Best effort: a busy database must not turn a valid key away.
pub fn record_use(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    principal: &Principal,
    ip: Option<&str>,
) {
    if let Err(e) = ApiKey::touch(conn, principal.key_id().as_str(), now, ip) {
        tracing::warn!(error = %e, key_id = %principal.key_id(), "could not record the key's last use");
    }
}

/// Why a token that matches no key was refused, when an agent registered with it: its
/// service account was removed, or the key was revoked (with when, from the audit log).
/// `None` for a token no agent used: then it is simply unknown or revoked.
fn revocation_reason(conn: &mut DbConnection, digest: &str) -> Result<Option<String>, AppError> {
    let Some(agent) = Agent::by_key_digest(conn, digest)? else {
        return Ok(None);
    };
    let message = if let Some(at) =
        agent::audit_time(conn, &agent.account_id, AuditAction::ServiceAccountRemoved)?
    {
        format!(
            "this API key has been revoked: its service account was removed at {}",
            rfc3339(at)
        )
    } else if let Some(at) = agent::audit_time(conn, &agent.api_key_id, AuditAction::ApiKeyRevoked)?
    {
        format!("this API key has been revoked (at {})", rfc3339(at))
    } else {
        "this API key has been revoked".to_string()
    };
    Ok(Some(format!(
        "{message}; agent \"{}\" needs a new key",
        agent.name
    )))
}
