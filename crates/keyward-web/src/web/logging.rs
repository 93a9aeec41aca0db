//! One log line per request: method, route pattern (never the raw path or query, which
//! can carry one-time tokens), status and latency; the same figures go to the metrics
//! when they are on.
//!
//! Every line logged while a request is served (here, in handlers, and in services on the
//! blocking pool: `AppState::run` carries the span there) sits in a `request` span with
//! the request's id, which the response repeats as `X-Request-Id`. An id in the request's
//! `X-Request-Id` is taken as the request's own only from a trusted proxy
//! (`--trusted-proxies`), whose ids match lines across systems; from anyone else it is
//! logged beside ours as `client_request_id` (a client choosing our id could make its
//! lines pass for another request's). Either way only when short and plain.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use std::time::Instant;
use tracing::Instrument;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id, in its extensions, for answers made outside this middleware's reach.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl RequestId {
    /// Adds `X-Request-Id` to an answer a middleware makes of an error.
    pub fn add_to(req: &ServiceRequest, headers: &mut actix_web::http::header::HeaderMap) {
        let id = req.extensions().get::<RequestId>().cloned();
        if let Some(value) = id.and_then(|RequestId(id)| HeaderValue::from_str(&id).ok()) {
            headers.insert(REQUEST_ID, value);
        }
    }
}

/// The longest incoming id that is kept.
const MAX_INCOMING_ID: usize = 64;

/// The id in the request's `X-Request-Id` when it is 1 to 64 characters of
/// `[A-Za-z0-9._:-]` (nothing that can forge a log line or a field).
fn incoming_id(req: &ServiceRequest) -> Option<&str> {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            (1..=MAX_INCOMING_ID).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
        })
}

fn fresh_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let state = req.app_data::<actix_web::web::Data<crate::web::AppState>>();
    let from_trusted_proxy = state.is_some_and(|state| {
        req.peer_addr()
            .is_some_and(|peer| state.settings.is_trusted_proxy(peer.ip()))
    });
    let incoming = incoming_id(&req);
    let (id, client_id) = match incoming {
        Some(id) if from_trusted_proxy => (id.to_string(), None),
        other => (fresh_id(), other),
    };
    // At ERROR level so that it is on whenever any line of the request is logged.
    let span = match client_id {
        Some(client_id) => {
            tracing::error_span!("request", id = %id, client_request_id = %client_id)
        }
        None => tracing::error_span!("request", id = %id),
    };
    let method = req.method().clone();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "(unmatched)".to_string());
    let metrics_on = state.is_some_and(|state| state.settings.metrics_token.is_some());
    req.extensions_mut().insert(RequestId(id.clone()));
    let serving = crate::web::in_flight::serving(method.as_str(), &route);
    let mut result = next.call(req).instrument(span.clone()).await;
    drop(serving);
    let status = match &result {
        Ok(res) => res.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    let latency = started.elapsed();
    if metrics_on {
        crate::telemetry::metrics::observe_request(&route, method.as_str(), status, latency);
    }
    span.in_scope(|| {
        tracing::info!(
            method = %method,
            route = %route,
            status,
            latency_ms = latency.as_secs_f64() * 1000.0,
            "request"
        )
    });
    // (A middleware's `Err` is turned into a response by actix, after this: the
    // middlewares that answer an error themselves add the id from `RequestId`.)
    if let (Ok(res), Ok(value)) = (&mut result, HeaderValue::from_str(&id)) {
        res.headers_mut().insert(REQUEST_ID, value);
    }
    result
}
