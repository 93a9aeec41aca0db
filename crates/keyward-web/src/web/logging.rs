//! One log line per request: method, route pattern (never the raw path or query, which
//! can carry one-time tokens), status and latency; the same figures go to the metrics
//! when they are on.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use std::time::Instant;

pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "(unmatched)".to_string());
    let metrics_on = req
        .app_data::<actix_web::web::Data<crate::web::AppState>>()
        .is_some_and(|state| state.settings.metrics_token.is_some());
    let serving = crate::web::in_flight::serving(method.as_str(), &route);
    let result = next.call(req).await;
    drop(serving);
    let status = match &result {
        Ok(res) => res.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    let latency = started.elapsed();
    if metrics_on {
        crate::telemetry::metrics::observe_request(&route, method.as_str(), status, latency);
    }
    tracing::info!(
        method = %method,
        route = %route,
        status,
        latency_ms = latency.as_secs_f64() * 1000.0,
        "request"
    );
    result
}
