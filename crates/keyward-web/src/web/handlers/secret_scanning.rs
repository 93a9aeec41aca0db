//! GitLab's Token Revocation API, served for Keyward's own keys (issue 29,
//! docs/SECRET-SCANNING.md): a self-managed GitLab's secret detection asks
//! `GET …/v1/revocable_token_types` which finding types to send, and posts the findings of
//! those types to `POST …/v1/revoke_tokens`; each stored key among them is revoked at once
//! (`services::key_leaks`).
//!
//! - **The pre-shared tokens.** GitLab sends its token as the whole `Authorization` header
//!   (no scheme); a CI job posting findings sends its own. They come from
//!   `KEYWARD_REVOCATION_API_TOKEN_FILE` or `KEYWARD_REVOCATION_API_TOKEN`, one a line;
//!   without any the routes answer 404, saying how to turn them on (like `/metrics`). The
//!   header's SHA-256 digest is compared with every token's in constant time (`subtle`,
//!   no early exit, so neither length nor content shows in the time taken); anything
//!   else is 401 before the body is read.
//! - **Nothing revealed.** Every well-formed request answers 204, whether its keys were
//!   revoked, unknown, revoked already, malformed or someone else's; only the server log
//!   and the tenants' audit logs say what happened. Reporting a key twice changes nothing
//!   the second time (idempotent).
//! - **Bounded.** The body is at most `MAX_BODY_BYTES` (413), at most `MAX_TOKENS` keys a
//!   request (400), and each instance takes at most
//!   `request_budget::REPORTED_KEYS_PER_MINUTE` reported keys a minute from each token
//!   (429 with `Retry-After`; GitLab retries later): a CI that spends its budget does not
//!   touch GitLab's.
//! - **Strict on form, lenient on place.** A body that is not a JSON array of objects
//!   with string `type` and `token`, or a type Keyward does not revoke, is 400 and names
//!   the item and what to fix (GitLab does not retry a 400). A missing, null or overlong
//!   `location` is kept as well as it can be (a revocation refused over it would leave a
//!   leaked key working); fields GitLab adds (`vulnerability`) are ignored.

use crate::client_ip::client_ip;
use crate::domain::LeakSource;
use crate::error::{ApiError, AppError};
use crate::services::key_leaks::{self, Finding, FoundToken};
use crate::services::Actor;
use crate::web::AppState;
use actix_web::http::header::{AUTHORIZATION, CACHE_CONTROL, RETRY_AFTER};
use actix_web::{web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The one finding type Keyward revokes: what GitLab derives from the gitleaks rule
/// `keyward_api_key` that docs/SECRET-SCANNING.md publishes (`gitleaks_rule_id_` and the
/// rule's id, lowercased, spaces as underscores; its description "Keyward API Key" gives
/// the same).
pub const TOKEN_TYPE: &str = "gitleaks_rule_id_keyward_api_key";
/// The largest body `revoke_tokens` reads.
pub const MAX_BODY_BYTES: usize = 128 * 1024;
/// The most keys one `revoke_tokens` request may report.
pub const MAX_TOKENS: usize = 500;
/// Longer values are not Keyward keys; they are not even parsed.
const MAX_TOKEN_CHARS: usize = 200;

/// Which configured token the request carries (its digest, the key of its rate budget),
/// or the answer to a request without one of them, or when the API is off.
fn token_of(req: &HttpRequest, state: &AppState) -> Result<[u8; 32], Box<HttpResponse>> {
    let Some(expected) = &state.settings.revocation_api_tokens else {
        return Err(Box::new(
            HttpResponse::NotFound()
                .insert_header((CACHE_CONTROL, "no-store"))
                .json(serde_json::json!({ "error": {
                    "code": "NOT_FOUND",
                    "message": "the GitLab Token Revocation API is off: start Keyward with KEYWARD_REVOCATION_API_TOKEN_FILE (or KEYWARD_REVOCATION_API_TOKEN) to turn it on",
                }})),
        ));
    };
    let given: [u8; 32] = Sha256::digest(
        req.headers()
            .get(AUTHORIZATION)
            .map(|v| v.as_bytes())
            .unwrap_or_default(),
    )
    .into();
    // Compared with every configured token, with no early exit.
    let mut matched = None;
    for digest in expected.digests() {
        if bool::from(digest.ct_eq(&given)) {
            matched = Some(*digest);
        }
    }
    if let Some(digest) = matched {
        return Ok(digest);
    }
    Err(Box::new(
        HttpResponse::Unauthorized()
            .insert_header((CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({ "error": {
                "code": "UNAUTHENTICATED",
                "message": "send a revocation API token as the whole Authorization header (GitLab: its secret_detection_token_revocation_token; a CI: its own token)",
            }})),
    ))
}

/// `GET /api/secret-scanning/gitlab/v1/revocable_token_types`
pub async fn revocable_token_types(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Err(answer) = token_of(&req, &state) {
        return *answer;
    }
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({ "types": [TOKEN_TYPE] }))
}

/// One item of a `revoke_tokens` body, checked.
struct Reported {
    token: String,
    location: Option<String>,
}

/// The body as a list of reported keys, or a 400 saying which item is wrong and how.
fn parse_body(body: &[u8]) -> Result<Vec<Reported>, AppError> {
    let bad = |message: String| AppError::invalid("body", message);
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        bad(format!(
            "the body is not valid JSON ({e}); send a JSON array of {{\"type\", \"token\", \"location\"}} objects"
        ))
    })?;
    let serde_json::Value::Array(items) = value else {
        return Err(bad(
            "the body must be a JSON array of {\"type\", \"token\", \"location\"} objects".into(),
        ));
    };
    if items.len() > MAX_TOKENS {
        return Err(bad(format!(
            "the body reports {} tokens; at most {MAX_TOKENS} may be sent in one request: send them in several",
            items.len()
        )));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let serde_json::Value::Object(mut item) = item else {
                return Err(bad(format!(
                    "item {i} is not an object with \"type\", \"token\" and \"location\""
                )));
            };
            let kind = match item.get("type") {
                Some(serde_json::Value::String(kind)) => kind.as_str(),
                _ => return Err(bad(format!("item {i}: \"type\" must be a string"))),
            };
            if kind != TOKEN_TYPE {
                let shown: String = kind.chars().take(100).collect();
                return Err(bad(format!(
                    "item {i}: Keyward does not revoke tokens of type \"{shown}\"; it revokes only {TOKEN_TYPE} (see revocable_token_types)"
                )));
            }
            let token = match item.remove("token") {
                Some(serde_json::Value::String(token)) => token,
                _ => return Err(bad(format!("item {i}: \"token\" must be a string"))),
            };
            let location = match item.remove("location") {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(location)) => Some(location),
                Some(_) => {
                    return Err(bad(format!(
                        "item {i}: \"location\" must be a string (or null)"
                    )))
                }
            };
            Ok(Reported { token, location })
        })
        .collect()
}

/// `POST /api/secret-scanning/gitlab/v1/revoke_tokens`
pub async fn revoke_tokens(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let token = match token_of(&req, &state) {
        Ok(token) => token,
        Err(answer) => return Ok(*answer),
    };
    let body = super::graphql::read_body_within(&req, payload, MAX_BODY_BYTES).await?;
    let mut reported = parse_body(&body)?;
    drop(body);
    // The same key reported at several places is revoked once, at the first.
    let mut seen = std::collections::HashSet::new();
    reported.retain(|r| seen.insert(r.token.clone()));
    drop(seen);
    if let Err(wait) = state.reported_keys.take(&token, reported.len()) {
        return Ok(HttpResponse::TooManyRequests()
            .insert_header((RETRY_AFTER, wait.as_secs().max(1).to_string()))
            .insert_header((CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({ "error": {
                "code": "TOO_MANY_REQUESTS",
                "message": format!(
                    "this server takes at most {} reported tokens a minute with one revocation API token; try again in {} s (give each CI its own token)",
                    crate::request_budget::REPORTED_KEYS_PER_MINUTE,
                    wait.as_secs().max(1)
                ),
            }})));
    }
    let actor = Actor::operator_from(client_ip(&req, &state.settings));
    let (count, mut revoked) = (reported.len(), Vec::new());
    for r in reported {
        if r.token.chars().count() > MAX_TOKEN_CHARS {
            continue;
        }
        let finding = Finding::new(&r.token, r.location.as_deref(), LeakSource::GitLab);
        if matches!(finding.token, FoundToken::NotAKey) {
            continue;
        }
        let actor = actor.clone();
        let found = state
            .run(move |conn, now| key_leaks::revoke_found_key(conn, &actor, now, &finding, None))
            .await?;
        if let Some(leak) = found {
            revoked.push(leak.key_id);
        }
    }
    // Which of the configured tokens (1 = the first line): tells GitLab from each CI.
    let token_number = state
        .settings
        .revocation_api_tokens
        .as_ref()
        .and_then(|t| t.digests().iter().position(|d| *d == token))
        .map_or(0, |i| i + 1);
    tracing::info!(
        token_number,
        reported = count,
        revoked = revoked.len(),
        key_ids = %revoked.join(","),
        "GitLab reported leaked tokens"
    );
    Ok(HttpResponse::NoContent()
        .insert_header((CACHE_CONTROL, "no-store"))
        .finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_an_array_of_known_types_with_string_tokens() {
        let ok = format!(
            r#"[{{"type":"{TOKEN_TYPE}","token":"x","location":null,"vulnerability":{{"id":1}}}},{{"type":"{TOKEN_TYPE}","token":"y"}}]"#
        );
        let parsed = parse_body(ok.as_bytes()).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].location, None);
        for (bad, says) in [
            ("{}", "must be a JSON array"),
            ("not json", "not valid JSON"),
            ("[1]", "item 0 is not an object"),
            (
                r#"[{"type":"aws_key_id","token":"x"}]"#,
                "does not revoke tokens of type \"aws_key_id\"",
            ),
            (
                &format!(r#"[{{"type":"{TOKEN_TYPE}"}}]"#),
                "\"token\" must be a string",
            ),
            (
                &format!(r#"[{{"type":"{TOKEN_TYPE}","token":"x","location":3}}]"#),
                "\"location\" must be a string",
            ),
        ] {
            let e = parse_body(bad.as_bytes()).err().expect(bad).to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let many = format!("[{}]", vec!["{}"; MAX_TOKENS + 1].join(","));
        assert!(parse_body(many.as_bytes())
            .err()
            .unwrap()
            .to_string()
            .contains("at most 500"));
    }
}
