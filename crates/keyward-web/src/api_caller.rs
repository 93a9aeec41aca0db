//! Who is calling through an API key, for both surfaces: `ApiCaller` runs the pipeline
//! of DESIGN §4 for `/api/*` routes; GraphQL calls `authenticate_request` itself so it
//! can render failures its way. Neither reads the session cookie.
//!
//! The hot path: the key's read runs where `db::key_reader` says (on SQLite on this very
//! worker thread, with no hand-off). The once-a-minute writes (the key's last use, a new
//! client) are bookkeeping: spawned, never awaited, taking only idle connections of the
//! main pool and dropped when none is idle within 2 s, so a valid key is never delayed or
//! refused for them (docs/DECISIONS.md). An IP refusal's audit is not bookkeeping: it is
//! written before the refusal is answered.

use crate::client_ip::client_ip;
use crate::domain::PlainToken;
use crate::error::{ApiError, AppError};
use crate::services::auth::{self, Verdict};
use crate::services::ip_allow;
use crate::services::{Actor, Principal};
use crate::state::AppState;
use crate::telemetry::metrics::{self, AuthFailure};
use actix_web::http::header::{HeaderMap, AUTHORIZATION};
use actix_web::{web, FromRequest, HttpRequest};
use std::future::Future;
use std::pin::Pin;

pub const TENANT_HEADERS: [&str; 2] = ["x-keyward-tenant-id", "x-prefect-tenant-id"];

/// Reads `Authorization: Bearer <key>` (scheme case-insensitive) and checks the token's
/// format and checksum; no I/O. `Ok(None)` when there is no Authorization header.
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<PlainToken>, AppError> {
    let mut values = headers.get_all(AUTHORIZATION);
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AppError::unauthenticated(
            "send exactly one Authorization header",
        ));
    }
    let text = value
        .to_str()
        .map_err(|_| {
            AppError::unauthenticated("the API key is malformed: it contains non-ASCII characters")
        })?
        .trim();
    let (scheme, rest) = text.split_once(' ').unwrap_or((text, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AppError::unauthenticated(
            "the Authorization scheme must be Bearer: send `Authorization: Bearer <key>`",
        ));
    }
    let token = rest.trim();
    if token.is_empty() {
        return Err(AppError::unauthenticated(
            "the Authorization header has no API key after Bearer",
        ));
    }
    Ok(Some(PlainToken::parse(token)?))
}

/// The tenant headers a request carries, each of which must name the key's tenant.
fn tenant_headers(headers: &HeaderMap) -> Result<Vec<String>, AppError> {
    TENANT_HEADERS
        .iter()
        .flat_map(|name| headers.get_all(*name))
        .map(|v| {
            v.to_str().map(|s| s.trim().to_string()).map_err(|_| {
                AppError::unauthenticated("the tenant header must be a tenant id (a UUID)")
            })
        })
        .collect()
}

/// Runs the whole pipeline. `Ok(None)` when the request carries no key at all.
pub async fn authenticate_request(
    req: &HttpRequest,
    state: &AppState,
) -> Result<Option<ApiCaller>, AppError> {
    let malformed = |_: &AppError| metrics::auth_failure(AuthFailure::Malformed);
    let Some(token) = bearer_token(req.headers()).inspect_err(malformed)? else {
        return Ok(None);
    };
    let tenants = tenant_headers(req.headers()).inspect_err(malformed)?;
    let ip = client_ip(req, &state.settings);
    let verdict = verify(state, token, tenants).await?;
    refuse_outside_allow_list(state, &verdict, ip.as_deref()).await?;
    if verdict.use_to_record {
        let (principal, ip) = (verdict.principal.clone(), ip.clone());
        state.spawn_bookkeeping(move |conn, now| {
            auth::record_use(conn, now, &principal, ip.as_deref())
        });
    }
    crate::client_sightings::note_client(req, state, &verdict.principal, ip.as_deref());
    Ok(Some(ApiCaller {
        principal: verdict.principal,
        ip,
    }))
}

/// The key's IP allow-list (none on most keys: then nothing is done). A refusal is
/// audited before it is answered, at most once a minute per key: not as bookkeeping,
/// which may be dropped when busy, and this is no valid key's path to hold up.
async fn refuse_outside_allow_list(
    state: &AppState,
    verdict: &Verdict,
    ip: Option<&str>,
) -> Result<(), AppError> {
    let Err(refused) = ip_allow::check(verdict.allowed_ips.as_deref(), ip) else {
        return Ok(());
    };
    metrics::auth_failure(AuthFailure::IpNotAllowed);
    if ip_allow::refusal_audit_due(verdict.ip_refusal_audited_at, state.clock.now()) {
        let (principal, ip) = (verdict.principal.clone(), ip.map(str::to_string));
        let key_id = principal.key_id().to_string();
        let audited = state
            .run(move |conn, now| {
                ip_allow::audit_refusal(conn, now, &principal, ip.as_deref());
                Ok(())
            })
            .await;
        if let Err(e) = audited {
            tracing::warn!(error = %e, key_id = %key_id, "could not audit a refusal by IP allow-list");
        }
    }
    Err(refused)
}

/// The key's read: here on SQLite; on PostgreSQL on the worker's pipelined connection,
/// else on the blocking pool with the key pool.
async fn verify(
    state: &AppState,
    token: PlainToken,
    tenants: Vec<String>,
) -> Result<Verdict, AppError> {
    let now = state.clock.now();
    let keys = &state.db.keys;
    if let Some(verdict) = keys.read_here(|conn| auth::verify(conn, now, &token, &tenants)) {
        return verdict;
    }
    if let Some(verdict) = auth::verify_pipelined(keys, now, &token, &tenants).await {
        return verdict;
    }
    let keys = keys.clone();
    let _turn = keys.turn().await.map_err(AppError::from)?;
    let span = tracing::Span::current();
    web::block(move || {
        let _request = span.enter();
        keys.read_pooled(|conn| auth::verify(conn, now, &token, &tenants))
            .unwrap_or_else(|| Err(AppError::internal("the key reader has no pool")))
    })
    .await
    .map_err(AppError::internal)?
}

/// An API request authenticated by a key; anything else is refused with 401.
#[derive(Debug, Clone)]
pub struct ApiCaller {
    pub principal: Principal,
    pub ip: Option<String>,
}

impl ApiCaller {
    pub fn actor(&self) -> Actor {
        Actor::api_key(self.principal.clone(), self.ip.clone())
    }
}

impl FromRequest for ApiCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = AppState::of(&req)?;
            match authenticate_request(&req, &state).await? {
                Some(caller) => Ok(caller),
                None => Err(AppError::unauthenticated(
                    "missing API key: send it as `Authorization: Bearer <key>`",
                )
                .into()),
            }
        })
    }
}
