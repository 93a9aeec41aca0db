//! The core's error, mapped once per surface to its answer: `ApiError` (JSON, for `/api/*`
//! and the health routes), `GraphqlAnswer` (GraphQL errors with `extensions.code`) and
//! `HtmlError` (dashboard pages and htmx toasts). `AppError` itself knows no framework
//! (`keyward_core::error`); it is re-exported here so `crate::error::AppError` reads as
//! before.

pub use keyward_core::error::*;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use std::fmt;

/// The HTTP status every surface answers an error with.
pub fn status_code(error: &AppError) -> StatusCode {
    match error {
        AppError::Invalid(_) => StatusCode::BAD_REQUEST,
        AppError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::Conflict(_) => StatusCode::CONFLICT,
        AppError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
        AppError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        AppError::TimedOut(_) => StatusCode::SERVICE_UNAVAILABLE,
        AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An `AppError` answered as JSON (`/api/*`, the health routes, the API-key extractor):
/// `{"error": {"code", "message", "field"?}}`. `?` turns an `AppError` into one.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        Self(error)
    }
}

impl From<crate::domain::InvalidInput> for ApiError {
    fn from(error: crate::domain::InvalidInput) -> Self {
        Self(error.into())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        status_code(&self.0)
    }

    fn error_response(&self) -> HttpResponse {
        let error = &self.0;
        error.log();
        let mut builder = HttpResponse::build(status_code(error));
        if matches!(error, AppError::Unauthenticated(_)) {
            builder.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        builder.insert_header((header::CACHE_CONTROL, "no-store"));
        let mut body =
            serde_json::json!({ "error": { "code": error.code(), "message": error.to_string() } });
        if let Some(field) = error.field() {
            body["error"]["field"] = field.into();
        }
        builder.json(body)
    }
}

/// The GraphQL rendering of an `AppError`: its message and `extensions.code`.
pub trait GraphqlAnswer {
    /// For a resolver's answer.
    fn into_graphql(self) -> async_graphql::Error;
    /// The same, for responses built outside a resolver (auth failures, bad requests).
    fn to_graphql_server_error(&self) -> async_graphql::ServerError;
}

impl GraphqlAnswer for AppError {
    fn into_graphql(self) -> async_graphql::Error {
        self.log();
        let code = self.code();
        use async_graphql::ErrorExtensions;
        async_graphql::Error::new(self.to_string()).extend_with(|_, ext| ext.set("code", code))
    }

    fn to_graphql_server_error(&self) -> async_graphql::ServerError {
        self.log();
        let mut err = async_graphql::ServerError::new(self.to_string(), None);
        let mut ext = async_graphql::ErrorExtensionValues::default();
        ext.set("code", self.code());
        err.extensions = Some(ext);
        err
    }
}

/// An `AppError` on its way to a browser: a page inside the dashboard's layout
/// (`web::error_pages::in_layout`), a toast for htmx requests (`web::htmx::errors_as_toasts`),
/// each drawn once; anonymous visitors are sent to `/login`.
#[derive(Debug)]
pub struct HtmlError {
    pub error: AppError,
    /// For `Unauthenticated`: the page to return to after signing in.
    pub sign_in_next: Option<String>,
    /// For `Unauthenticated`: a form was sent after the session ended, so sign-in says so.
    pub session_ended: bool,
    /// Not an error to show: the person must go there first (a tenant that requires
    /// two-factor sends its members without it to enrol).
    pub go_first_to: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "errors/error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: String,
}

#[derive(askama::Template)]
#[template(path = "partials/toast.html")]
pub struct ToastPartial<'a> {
    /// `error` or `success`: a class and a `data-toast` value.
    pub kind: &'a str,
    pub message: &'a str,
}

impl HtmlError {
    /// Anonymous: sign in first, then come back to `next`.
    pub fn sign_in(next: Option<String>) -> Self {
        Self {
            error: AppError::unauthenticated("sign in to continue"),
            sign_in_next: next,
            session_ended: false,
            go_first_to: None,
        }
    }

    /// The person must visit `location` before this page (a 303; `HX-Redirect` for htmx).
    pub fn go_first_to(location: impl Into<String>) -> Self {
        Self {
            go_first_to: Some(location.into()),
            ..Self::from(AppError::forbidden("this page needs another step first"))
        }
    }

    /// A form sent without a session (it ended meanwhile): sign in, told why, then back.
    pub fn session_ended(next: Option<String>) -> Self {
        Self {
            session_ended: true,
            ..Self::sign_in(next)
        }
    }

    fn sign_in_url(&self) -> String {
        let ended: &[(&str, &str)] = &[("expired", "1")];
        self.sign_in_url_with(if self.session_ended { ended } else { &[] })
    }

    fn sign_in_url_with(&self, extra: &[(&str, &str)]) -> String {
        let mut pairs: Vec<(&str, &str)> = extra.to_vec();
        if let Some(next) = self.sign_in_next.as_deref().filter(|n| *n != "/") {
            pairs.insert(0, ("next", next));
        }
        if pairs.is_empty() {
            return "/login".to_string();
        }
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        format!("/login?{query}")
    }

    pub fn title(&self) -> &'static str {
        match &self.error {
            AppError::Invalid(_) => "That did not work",
            AppError::Unauthenticated(_) => "Sign in to continue",
            AppError::Forbidden(_) => "Not allowed",
            AppError::NotFound(_) => "Not found",
            AppError::Conflict(_) => "This cannot be done",
            AppError::TooManyRequests(_) => "Too many attempts",
            AppError::PayloadTooLarge(_) => "Too large",
            AppError::TimedOut(_) => "Took too long",
            AppError::Unavailable(_) => "Unavailable",
            AppError::Internal(_) => "Something went wrong",
        }
    }

    /// What the person reads: the error's message with its first letter capitalised.
    pub fn message(&self) -> String {
        let text = self.error.to_string();
        let mut chars = text.chars();
        match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => text,
        }
    }

    /// For a browser that must go elsewhere instead (enrol first, or sign in): the 303.
    fn redirect(&self) -> Option<HttpResponse> {
        let location = match &self.go_first_to {
            Some(location) => location.clone(),
            None if matches!(self.error, AppError::Unauthenticated(_)) => self.sign_in_url(),
            None => return None,
        };
        Some(
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish(),
        )
    }

    /// The full HTML page on its own, outside the dashboard's layout: for an answer no
    /// middleware draws (the session store's outage, `web::session_outage`) and when the
    /// layout cannot be drawn. Logs nothing (`error_response` logs).
    pub fn page_response(&self) -> HttpResponse {
        if let Some(redirect) = self.redirect() {
            return redirect;
        }
        let page = ErrorPage {
            status: status_code(&self.error).as_u16(),
            title: self.title(),
            message: self.message(),
        };
        html_response(status_code(&self.error), askama::Template::render(&page))
    }

    /// For htmx: a toast appended to the page's toast area, whatever the request targeted.
    /// Logs nothing (`error_response` logs).
    pub fn toast_response(&self) -> HttpResponse {
        if let Some(location) = &self.go_first_to {
            return HttpResponse::Ok()
                .insert_header(("HX-Redirect", location.as_str()))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish();
        }
        if matches!(self.error, AppError::Unauthenticated(_)) {
            // A dialog or form of a page whose session ended: say so, and come back.
            return HttpResponse::Unauthorized()
                .insert_header(("HX-Redirect", self.sign_in_url_with(&[("expired", "1")])))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish();
        }
        let message = self.message();
        let toast = ToastPartial {
            kind: "error",
            message: &message,
        };
        let mut res = html_response(status_code(&self.error), askama::Template::render(&toast));
        let headers = res.headers_mut();
        headers.insert(
            header::HeaderName::from_static("hx-retarget"),
            header::HeaderValue::from_static("#toasts"),
        );
        headers.insert(
            header::HeaderName::from_static("hx-reswap"),
            header::HeaderValue::from_static("beforeend"),
        );
        res
    }
}

fn html_response(status: StatusCode, body: askama::Result<String>) -> HttpResponse {
    match body {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "rendering an error page failed");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("something went wrong on our side; it has been logged")
        }
    }
}

impl From<AppError> for HtmlError {
    fn from(error: AppError) -> Self {
        Self {
            error,
            sign_in_next: None,
            session_ended: false,
            go_first_to: None,
        }
    }
}

impl fmt::Display for HtmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl ResponseError for HtmlError {
    fn status_code(&self) -> StatusCode {
        if self.go_first_to.is_some() || matches!(self.error, AppError::Unauthenticated(_)) {
            return StatusCode::SEE_OTHER;
        }
        status_code(&self.error)
    }

    /// Logs the error, once, and draws nothing: a redirect is whole here, but the page
    /// (inside the layout, `web::error_pages::in_layout`) or the htmx toast
    /// (`web::htmx::errors_as_toasts`) is drawn once by the dashboard's middlewares, which
    /// every dashboard error passes through on its way out.
    fn error_response(&self) -> HttpResponse {
        if let Some(redirect) = self.redirect() {
            return redirect;
        }
        self.error.log();
        HttpResponse::build(status_code(&self.error))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish()
    }
}
