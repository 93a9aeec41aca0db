//! Plain JSON routes for scripts and health checks, authenticated by API key only.

use crate::api_caller::ApiCaller;
use crate::error::ApiError;
use actix_web::HttpResponse;

/// `GET /api/whoami`: what the presented key authenticates as.
pub async fn whoami(caller: ApiCaller) -> Result<HttpResponse, ApiError> {
    let p = &caller.principal;
    let role = p.role()?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(serde_json::json!({
            "account_id": p.account_id(),
            "account_type": p.account_kind().as_str(),
            "tenant_id": p.tenant_id(),
            "role": role.as_str(),
            "api_key_id": p.key_id(),
            "read_only": p.read_only(),
        })))
}
