//! `/healthz`: the process is up. `/readyz`: the database answers.

use crate::web::AppState;
use actix_web::{web, HttpResponse};

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let db = state.db.clone();
    let verdict = web::block(move || db.check_ready())
        .await
        .unwrap_or_else(|_| Err("the readiness check failed".into()));
    match verdict {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })),
        Err(reason) => HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({ "status": "unavailable", "reason": reason })),
    }
}
