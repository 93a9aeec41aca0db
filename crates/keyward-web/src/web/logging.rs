//! One log line per request: method, route pattern (never the raw path or query, which
//! can carry one-time tokens), status and latency; the same figures go to the metrics
//! when they are on.
//!
//! Every line logged while a request is served (here, in handlers, and in services on the
//! blocking pool: `AppState::run` carries the span there) sits in a `request` span with
//! the request's id, which the response repeats as `X-Request-Id`. An id the client sends
//! in `X-Request-Id` is kept when it is short and plain (a proxy's or a client's own, so
//! lines can be matched across systems); anything else gets a fresh one.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use std::time::Instant;
use tracing::Instrument;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest incoming id that is kept.
const MAX_INCOMING_ID: usize = 64;

/// The client's id when it is 1 to 64 characters of `[A-Za-z0-9._:-]` (nothing that can
/// forge a log line or a field), else a new random one.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            (1..=MAX_INCOMING_ID).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
        })
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_string)
}

pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = request_id(&req);
    // At ERROR level so that it is on whenever any line of the request is logged.
    let span = tracing::error_span!("request", id = %id);
    let method = req.method().clone();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "(unmatched)".to_string());
    let metrics_on = req
        .app_data::<actix_web::web::Data<crate::web::AppState>>()
        .is_some_and(|state| state.settings.metrics_token.is_some());
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
    // (A middleware's `Err` is turned into a response by actix, after this: it goes
    // without the header. The log line above has the id either way.)
    if let (Ok(res), Ok(value)) = (&mut result, HeaderValue::from_str(&id)) {
        res.headers_mut().insert(REQUEST_ID, value);
    }
    result
}
