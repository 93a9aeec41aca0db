//! `POST /graphql` and `POST /` (Prefect 1.x clients post to the bare API URL), GraphiQL on
//! `GET /graphql`, and GraphiQL's vendored assets.
//!
//! The body is read here rather than by async-graphql's extractor because Prefect 1.x
//! sends `"variables"` as a JSON-encoded string, which async-graphql refuses, and expects
//! `application/json` back. Authentication is the key engine's `authenticate_request`
//! and nothing else; its failures answer HTTP 200 in the GraphQL error shape, which is
//! the shape Prefect clients show a friendly message for.
//!
//! Decisions where DESIGN is silent:
//! - A body that is not one GraphQL request (malformed JSON, a batch, no `query`) answers
//!   400 and one above 64 KiB 413, both still in the GraphQL error shape, so every
//!   answer of this endpoint is `application/json` with `errors[].extensions.code`.
//! - Syntax, validation and limit errors (which async-graphql reports without a code)
//!   get `BAD_USER_INPUT`.
//! - Every document passes the cost check (`graphql::limits`) before authentication and
//!   before async-graphql sees it; a key's third concurrent request answers 429, and a
//!   request running past `statement_limit::BUDGET` answers `TIMEOUT` (HTTP 200, like
//!   every GraphQL error but 429, 400 and 413).
//! - When any error is UNAUTHENTICATED, `data` is null, even where other fields resolved.
//! - `hello`, introspection and GraphiQL need no key; a key that is sent must be valid,
//!   whatever the query.

use crate::api_caller::authenticate_request;
use crate::db::statement_limit::BUDGET;
use crate::error::{status_code, AppError, GraphqlAnswer};
use crate::graphql::documents::{self, Validation};
use crate::graphql::{RequestContext, Schemas};
use crate::web::request_budget::MAX_RUNNING_PER_KEY;
use crate::web::AppState;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;

/// Request bodies above this answer 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub async fn execute(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    schemas: web::Data<Schemas>,
) -> HttpResponse {
    let body = match read_body(&req, payload).await {
        Ok(body) => body,
        Err(e) => return error_response(status_code(&e), &e),
    };
    let mut request = match parse_request(&body) {
        Ok(request) => request,
        Err(message) => {
            return error_response(StatusCode::BAD_REQUEST, &AppError::invalid("body", message))
        }
    };
    // The cost check runs before anything else, key or no key: a refused document
    // touches neither the database nor async-graphql.
    let validation = match documents::prepare(&mut request) {
        Ok(validation) => validation,
        Err(e) => {
            return json_response(
                StatusCode::OK,
                &async_graphql::Response::from_errors(vec![e]),
            )
        }
    };
    let caller = match authenticate_request(&req, &state).await {
        Ok(caller) => caller,
        // Refused keys answer 200, the shape Prefect clients expect; a database that
        // cannot be reached keeps its 503 so clients retry.
        Err(e @ AppError::Unauthenticated(_)) => return error_response(StatusCode::OK, &e),
        Err(e) => return error_response(status_code(&e), &e),
    };
    let _running = match &caller {
        Some(caller) => match state
            .graphql_running
            .start(caller.principal.key_id().as_str())
        {
            Some(running) => Some(running),
            None => {
                let e = AppError::TooManyRequests(format!(
                    "this key already has {MAX_RUNNING_PER_KEY} GraphQL requests running; send the next one when one of them has answered"
                ));
                return error_response(StatusCode::TOO_MANY_REQUESTS, &e);
            }
        },
        None => None,
    };
    let context = RequestContext {
        state: state.get_ref().clone(),
        caller,
    };
    let loaders = crate::graphql::loaders::for_request(&context);
    let request = request
        .data(context)
        .data(loaders)
        .data(crate::graphql::AgentIdHeader::of(req.headers()));
    // Stopped at its next await past the budget; its statements stop at the same budget
    // in the database (`statement_limit`).
    let schema = match validation {
        Validation::Passed => &schemas.validated,
        Validation::Needed(_) => &schemas.strict,
    };
    let mut response = match tokio::time::timeout(BUDGET, schema.execute(request)).await {
        Ok(response) => response,
        Err(_) => return error_response(StatusCode::OK, &AppError::timed_out()),
    };
    if let Validation::Needed(Some(text)) = validation {
        // Data comes back only from a document that passed validation.
        if !matches!(response.data, async_graphql::Value::Null) {
            documents::passed(&text);
        }
    }
    for error in &mut response.errors {
        // Parse, validation and limit errors come from async-graphql without a code.
        let ext = error.extensions.get_or_insert_with(Default::default);
        if ext.get("code").is_none() {
            ext.set("code", "BAD_USER_INPUT");
        }
    }
    let unauthenticated = response.errors.iter().any(|e| {
        e.extensions
            .as_ref()
            .and_then(|x| x.get("code"))
            .is_some_and(|c| *c == async_graphql::Value::from("UNAUTHENTICATED"))
    });
    if unauthenticated {
        response.data = async_graphql::Value::Null;
    }
    json_response(StatusCode::OK, &response)
}

fn too_large(max: usize) -> AppError {
    AppError::PayloadTooLarge(format!(
        "the request body is larger than {} KiB",
        max / 1024
    ))
}

/// Reads the body up to `MAX_BODY_BYTES`, refusing early when Content-Length says more.
async fn read_body(req: &HttpRequest, payload: web::Payload) -> Result<Vec<u8>, AppError> {
    read_body_within(req, payload, MAX_BODY_BYTES).await
}

/// Reads the body up to `max` bytes (413 beyond), refusing early when Content-Length
/// says more.
pub(crate) async fn read_body_within(
    req: &HttpRequest,
    mut payload: web::Payload,
    max: usize,
) -> Result<Vec<u8>, AppError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large(max));
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(1024).min(max));
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|_| AppError::invalid("body", "the request body could not be read"))?;
        if body.len() + chunk.len() > max {
            return Err(too_large(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// One GraphQL request from a JSON object; `variables` may be an object or a
/// JSON-encoded string (`""` and `"null"` mean none). Batches are refused.
pub fn parse_request(body: &[u8]) -> Result<async_graphql::Request, String> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| format!("the request body is not valid JSON ({e})"))?;
    let mut object = match value {
        serde_json::Value::Object(object) => object,
        serde_json::Value::Array(_) => {
            return Err(
                "batched requests (a JSON array) are not supported; send one operation per request"
                    .into(),
            )
        }
        _ => {
            return Err(
                "the request body must be a JSON object such as {\"query\": \"{ hello }\"}".into(),
            )
        }
    };
    if let Some(serde_json::Value::String(encoded)) = object.get("variables") {
        let trimmed = encoded.trim();
        let parsed = if trimmed.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(trimmed).map_err(|e| {
                format!("`variables` is a string but not JSON-encoded variables ({e})")
            })?
        };
        object.insert("variables".into(), parsed);
    }
    for key in ["variables", "operationName", "extensions"] {
        if object.get(key).is_some_and(serde_json::Value::is_null) {
            object.remove(key);
        }
    }
    if !object
        .get("query")
        .is_some_and(serde_json::Value::is_string)
    {
        return Err("the request needs a `query` string".into());
    }
    serde_json::from_value(serde_json::Value::Object(object))
        .map_err(|e| format!("the request is not a GraphQL request ({e})"))
}

pub(crate) fn error_response(status: StatusCode, error: &AppError) -> HttpResponse {
    let response = async_graphql::Response::from_errors(vec![error.to_graphql_server_error()]);
    json_response(status, &response)
}

fn json_response(status: StatusCode, response: &async_graphql::Response) -> HttpResponse {
    match serde_json::to_vec(response) {
        Ok(body) => HttpResponse::build(status)
            .insert_header((header::CONTENT_TYPE, "application/json"))
            // Answers can carry a new key's secret.
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body),
        Err(e) => {
            AppError::internal(e).log();
            HttpResponse::InternalServerError()
                .insert_header((header::CONTENT_TYPE, "application/json"))
                .body(r#"{"data":null,"errors":[{"message":"something went wrong on our side; it has been logged","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}"#)
        }
    }
}

const GRAPHIQL_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Keyward GraphQL</title>
<link rel="stylesheet" href="/static/vendor/graphiql-3.8.3.min.css">
<link rel="stylesheet" href="/static/keyward-graphiql.css">
</head>
<body>
<nav id="graphiql-bar" aria-label="Keyward">
  <a href="/user/api-keys" id="graphiql-back">← Back to Keyward</a>
  <span>Make a key at <a href="/user/api-keys" id="graphiql-make-key">User › API Keys</a>, then paste it after "Bearer " in Headers.</span>
</nav>
<div id="graphiql">Loading GraphiQL…</div>
<script src="/static/vendor/react-18.3.1.production.min.js"></script>
<script src="/static/vendor/react-dom-18.3.1.production.min.js"></script>
<script src="/static/vendor/graphiql-3.8.3.min.js"></script>
<script src="/static/keyward-graphiql.js"></script>
</body>
</html>
"#;

/// Scripts only from Keyward itself, none inline; GraphiQL's editor sets inline styles.
pub const GRAPHIQL_CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
    connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// `GET /graphql`: GraphiQL, all assets served by Keyward itself.
pub async fn graphiql() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            GRAPHIQL_CONTENT_SECURITY_POLICY,
        ))
        .body(GRAPHIQL_PAGE)
}
