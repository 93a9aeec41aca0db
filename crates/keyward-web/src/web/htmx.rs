//! htmx on the server side: which requests want only a partial, the one helper that turns
//! a template into a dashboard response, and the middleware that turns dashboard errors
//! into toasts for htmx requests.

use crate::error::{AppError, HtmlError};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use std::future::{ready, Ready};

/// What htmx says about a request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Htmx {
    /// `HX-Request: true`.
    pub request: bool,
    /// `HX-History-Restore-Request: true`: htmx wants the whole page back.
    pub history_restore: bool,
    /// `HX-Request-Type: full` (htmx 4): the target is the whole body.
    pub full: bool,
}

fn header_is(headers: &HeaderMap, name: &str, value: &str) -> bool {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(value))
}

impl Htmx {
    pub fn of(headers: &HeaderMap) -> Self {
        Self {
            request: header_is(headers, "hx-request", "true"),
            history_restore: header_is(headers, "hx-history-restore-request", "true"),
            full: header_is(headers, "hx-request-type", "full"),
        }
    }

    /// Whether to answer with the partial rather than the whole page. Build the page's
    /// `Layout` only when it is wanted: it takes the session's flash message.
    pub fn wants_partial(&self) -> bool {
        self.request && !self.history_restore && !self.full
    }
}

impl FromRequest for Htmx {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(Ok(Htmx::of(req.headers())))
    }
}

/// A dashboard HTML response: never cached (pages carry CSRF tokens and private data),
/// and varying on the htmx headers that choose between page and partial.
pub fn html(
    status: StatusCode,
    template: &impl askama::Template,
) -> Result<HttpResponse, HtmlError> {
    let body = template
        .render()
        .map_err(|e| AppError::internal(format!("rendering a page failed: {e}")))?;
    Ok(html_body(status, body))
}

/// `html` for a body already rendered (a partial plus out-of-band toasts).
pub fn html_body(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::VARY,
            "HX-Request, HX-History-Restore-Request, HX-Request-Type",
        ))
        .body(body)
}

/// A 303 to `location`; for htmx requests `HX-Redirect`, so the whole page changes.
pub fn redirect(hx: Htmx, location: &str) -> HttpResponse {
    if hx.request {
        HttpResponse::Ok()
            .insert_header(("HX-Redirect", location))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish()
    } else {
        HttpResponse::SeeOther()
            .insert_header((header::LOCATION, location))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish()
    }
}

/// Middleware: for htmx requests, a dashboard error (`HtmlError`) becomes a toast instead
/// of a whole error page; other errors and other requests pass unchanged.
pub async fn errors_as_toasts(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // No clone of the request may live across `next.call`: routing needs it unshared.
    let htmx = Htmx::of(req.headers()).request;
    let res = next.call(req).await?;
    if !htmx {
        return Ok(res.map_into_boxed_body());
    }
    let toast = res
        .response()
        .error()
        .and_then(|e| e.as_error::<HtmlError>())
        .map(HtmlError::toast_response);
    Ok(match toast {
        Some(toast) => res.into_response(toast),
        None => res.map_into_boxed_body(),
    })
}

/// A success toast sent beside a partial: htmx appends it to `#toasts` out of band.
pub fn toast_oob(kind: &str, message: &str) -> Result<String, HtmlError> {
    let toast = crate::error::ToastPartial { kind, message };
    let inner = askama::Template::render(&toast)
        .map_err(|e| AppError::internal(format!("rendering a toast failed: {e}")))?;
    Ok(format!(
        "<div id=\"toasts\" hx-swap-oob=\"beforeend\">{inner}</div>"
    ))
}

/// Dashboard forms that cannot be read (wrong content type, bad encoding, too large) get
/// the dashboard's own error page or toast, not a bare text answer.
pub fn form_config() -> actix_web::web::FormConfig {
    actix_web::web::FormConfig::default().error_handler(|e, _| {
        HtmlError::from(AppError::invalid(
            "form",
            format!("this form could not be read: {e}"),
        ))
        .into()
    })
}

/// A partial with a success toast beside it (appended to `#toasts` out of band).
pub fn partial_with_toast(
    partial: &impl askama::Template,
    message: &str,
) -> Result<HttpResponse, HtmlError> {
    let body = partial
        .render()
        .map_err(|e| AppError::internal(format!("rendering a page failed: {e}")))?;
    Ok(html_body(
        StatusCode::OK,
        body + &toast_oob("success", message)?,
    ))
}
