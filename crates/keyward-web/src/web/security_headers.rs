//! Headers on every response: a Content-Security-Policy without inline script (htmx and
//! the page's JS come from `/static`), framing forbidden, no MIME sniffing, and a
//! same-origin referrer (unless the handler set `no-referrer`). A handler that needs another policy sets its own CSP header.
//! A middleware's own error answer gets them through `apply`.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

pub async fn add(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let mut res = next.call(req).await?.map_into_boxed_body();
    apply(res.headers_mut());
    Ok(res)
}

/// Sets the headers above; also used by the middlewares that answer an error themselves
/// (`session_outage`), whose answer actix makes after every middleware has run.
pub fn apply(headers: &mut HeaderMap) {
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Pages at a one-time link's URL set a stricter one; only `no-referrer` is kept, so no
    // handler can loosen the site's policy by mistake.
    if headers.get(header::REFERRER_POLICY) != Some(&HeaderValue::from_static("no-referrer")) {
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
}
