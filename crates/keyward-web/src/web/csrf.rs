//! CSRF protection for the dashboard: a signed-in session holds a random token, and every
//! state-changing request that the session authenticates must present it, as the
//! `X-CSRF-Token` header (htmx sends it through `hx-headers` on `<body>`) or as the
//! `csrf_token` field of a urlencoded form. Missing or wrong: a 403 page (a toast for htmx).
//!
//! Before that, any state-changing dashboard request whose browser names another site in
//! `Origin` is refused, signed in or not: that covers the forms that need no session
//! (sign-in, first-run setup) against login CSRF. Clients that send no `Origin` are judged
//! by the token alone.
//!
//! It runs only on the dashboard's routes: GraphQL and `/api/*` authenticate by API key
//! and never read the session cookie, so they are outside it and the session middleware
//! (`routes::authenticates_by_key`, DESIGN §4).

use crate::error::{AppError, HtmlError};
use crate::web::AppState;
use crate::web::{client_ip, session};
use actix_session::SessionExt;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};

pub const HEADER: &str = "x-csrf-token";
pub const FIELD: &str = "csrf_token";

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

/// Whether the browser says the request comes from another site: an `Origin` other than
/// the public URL's (or, without one, than this request's own host: `Host`, or
/// `X-Forwarded-Host` from a trusted proxy only).
fn from_another_site(req: &ServiceRequest) -> bool {
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return true;
    };
    let expected = match &state.settings.public_url {
        Some(url) => origin_of(url).to_string(),
        None => client_ip::request_origin(req.request(), &state.settings),
    };
    // The host decides; the scheme may differ behind a TLS-terminating proxy that does
    // not say so.
    let host_of = |o: &str| o.split_once("://").map(|(_, rest)| rest.to_string());
    match (host_of(origin), host_of(&expected)) {
        (Some(a), Some(b)) if state.settings.public_url.is_none() => !a.eq_ignore_ascii_case(&b),
        _ => !origin.eq_ignore_ascii_case(&expected),
    }
}

/// The 403 answer, as a response (not an `Err`), so the middlewares around it see it.
fn refused(req: ServiceRequest, why: &str) -> ServiceResponse<BoxBody> {
    let error = HtmlError::from(AppError::forbidden(format!(
        "{why}: reload the page and try again"
    )));
    req.error_response(error)
}

/// Middleware; runs inside the session middleware, on the dashboard's routes only.
pub async fn require_token(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if !changes_state(req.method()) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    if from_another_site(&req) {
        return Ok(refused(req, "this form was sent from another site"));
    }
    let Some(expected) = session::csrf_token(&req.get_session()) else {
        // Not signed in: nothing the cookie could authorise.
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let from_header = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let presented = match from_header {
        Some(token) => Some(token),
        None => {
            let is_form = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
            if is_form {
                let body = req.extract::<Bytes>().await?;
                let field = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
                    .ok()
                    .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == FIELD))
                    .map(|(_, v)| v);
                req.set_payload(Payload::from(body));
                field
            } else {
                None
            }
        }
    };
    match presented {
        None => Ok(refused(req, "this form is missing its security token")),
        Some(token) if !same(&token, &expected) => Ok(refused(
            req,
            "this form's security token does not match your session",
        )),
        Some(_) => Ok(next.call(req).await?.map_into_boxed_body()),
    }
}
