//! `GET /metrics`: Prometheus' text format, for whoever holds the metrics token. Off
//! (404) unless a token is configured; a missing or wrong token is 401.

use crate::web::AppState;
use actix_web::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use actix_web::{web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

pub async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let Some(expected) = &state.settings.metrics_token else {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("metrics are off: start Keyward with --metrics-token-file PATH (or KEYWARD_METRICS_TOKEN) to turn them on\n");
    };
    let given = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    // Compared as digests, so the time taken says nothing about the token's characters.
    let matches = given.is_some_and(|token| {
        Sha256::digest(token.as_bytes()) == Sha256::digest(expected.expose().as_bytes())
    });
    if !matches {
        return HttpResponse::Unauthorized()
            .insert_header((WWW_AUTHENTICATE, "Bearer realm=\"keyward metrics\""))
            .content_type("text/plain; charset=utf-8")
            .body("send the metrics token as `Authorization: Bearer <token>`\n");
    }
    let depth = state
        .run(|conn, _| crate::services::outbox::depth(conn))
        .await
        .ok();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(crate::telemetry::metrics::render(&state.db.pool, depth))
}
