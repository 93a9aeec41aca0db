//! The one error type. Each surface renders it its own way: JSON for `/api/*` and the
//! health routes, GraphQL errors with `extensions.code`, HTML pages and htmx toasts for
//! the dashboard. Internal causes are logged with their whole chain and never shown.

use crate::domain::{InvalidInput, TokenError};
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use std::fmt;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Input that is not valid; says which field and what to fix.
    #[error("{0}")]
    Invalid(#[from] InvalidInput),
    /// No credentials, or credentials that do not authenticate.
    #[error("{0}")]
    Unauthenticated(String),
    /// Authenticated, but the permission named in the message is missing.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with what is stored (a taken slug or email).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooManyRequests(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The request ran past its time budget and was stopped.
    #[error("{0}")]
    TimedOut(String),
    /// The database cannot be reached right now.
    #[error("the service is unavailable right now; try again shortly")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("something went wrong on our side; it has been logged")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl AppError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        AppError::Invalid(InvalidInput::new(field, message))
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        AppError::Forbidden(message.into())
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        AppError::NotFound(message.into())
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        AppError::Unauthenticated(message.into())
    }

    /// A request (or one of its statements) that ran past `statement_limit::BUDGET`.
    pub fn timed_out() -> Self {
        AppError::TimedOut(format!(
            "this request ran longer than its {} s budget and was stopped: ask for fewer rows, narrow the `where`, or try again when the server is less busy",
            crate::db::statement_limit::BUDGET.as_secs()
        ))
    }

    pub fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        AppError::Internal(e.into())
    }

    /// The GraphQL `extensions.code` and the JSON `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Invalid(_) | AppError::Conflict(_) | AppError::PayloadTooLarge(_) => {
                "BAD_USER_INPUT"
            }
            AppError::Unauthenticated(_) => "UNAUTHENTICATED",
            AppError::Forbidden(_) => "FORBIDDEN",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::TooManyRequests(_) => "TOO_MANY_REQUESTS",
            AppError::TimedOut(_) => "TIMEOUT",
            AppError::Unavailable(_) => "SERVICE_UNAVAILABLE",
            AppError::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }

    /// The field an `Invalid` error is about, for forms that show it beside the field.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            AppError::Invalid(i) => Some(i.field),
            _ => None,
        }
    }

    /// Logs the cause chain of server-side failures; call where an error leaves the app.
    pub fn log(&self) {
        if matches!(self, AppError::Internal(_) | AppError::Unavailable(_)) {
            tracing::error!(error = %ErrorChain(self), "request failed");
        }
    }
}

impl AppError {
    /// The GraphQL rendering: the message and `extensions.code`.
    pub fn into_graphql(self) -> async_graphql::Error {
        self.log();
        let code = self.code();
        use async_graphql::ErrorExtensions;
        async_graphql::Error::new(self.to_string()).extend_with(|_, ext| ext.set("code", code))
    }

    /// The same, for responses built outside a resolver (auth failures, bad requests).
    pub fn to_graphql_server_error(&self) -> async_graphql::ServerError {
        self.log();
        let mut err = async_graphql::ServerError::new(self.to_string(), None);
        let mut ext = async_graphql::ErrorExtensionValues::default();
        ext.set("code", self.code());
        err.extensions = Some(ext);
        err
    }
}

/// Formats an error with every `source()` below it, for logs.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut current = self.0.source();
        while let Some(cause) = current {
            write!(f, ": {cause}")?;
            current = cause.source();
        }
        Ok(())
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        match e {
            diesel::result::Error::NotFound => AppError::NotFound("not found".into()),
            diesel::result::Error::DatabaseError(_, ref info)
                if crate::db::statement_limit::stopped_statement(info.message()) =>
            {
                AppError::timed_out()
            }
            other if is_database_unavailable(&other) => AppError::Unavailable(Box::new(other)),
            other => AppError::Internal(Box::new(other)),
        }
    }
}

impl From<diesel::r2d2::Error> for AppError {
    fn from(e: diesel::r2d2::Error) -> Self {
        AppError::Unavailable(Box::new(e))
    }
}

/// A failed read on the key path is retried, or its connection reopened, when the error
/// could come from the connection rather than from the request.
impl crate::db::key_reader::MaybeConnectionFailure for AppError {
    fn may_be_connection_failure(&self) -> bool {
        matches!(self, AppError::Internal(_) | AppError::Unavailable(_))
    }
}

impl From<diesel::r2d2::PoolError> for AppError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        AppError::Unavailable(Box::new(e))
    }
}

impl From<actix_web::error::BlockingError> for AppError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        AppError::Internal(Box::new(e))
    }
}

impl From<TokenError> for AppError {
    fn from(e: TokenError) -> Self {
        AppError::Unauthenticated(e.to_string())
    }
}

/// True when a diesel error says the database cannot serve right now rather than that
/// the request is wrong: a PostgreSQL connection that was closed or terminated, or a
/// SQLite file that is read-only, full, failing or still locked after `busy_timeout`.
fn is_database_unavailable(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        ) => true,
        Error::DatabaseError(_, info) => {
            let message = info.message();
            [
                "readonly database",
                "database or disk is full",
                "disk I/O error",
                "database is locked",
                "terminating connection",
                "server closed the connection",
            ]
            .iter()
            .any(|m| message.contains(m))
        }
        _ => false,
    }
}

/// True when a diesel error is a UNIQUE violation (both backends report it the same way).
pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
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

    /// The JSON rendering, used by `/api/*`.
    fn error_response(&self) -> HttpResponse {
        self.log();
        let mut builder = HttpResponse::build(self.status_code());
        if matches!(self, AppError::Unauthenticated(_)) {
            builder.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        builder.insert_header((header::CACHE_CONTROL, "no-store"));
        let mut body =
            serde_json::json!({ "error": { "code": self.code(), "message": self.to_string() } });
        if let Some(field) = self.field() {
            body["error"]["field"] = field.into();
        }
        builder.json(body)
    }
}

/// An `AppError` on its way to a browser. It renders as a full HTML error page
/// (`templates/errors/error.html`); for htmx requests, `web::htmx::errors_as_toasts`
/// re-renders it as a toast (`toast_response`). Anonymous visitors are sent to `/login`.
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

    /// The full HTML page.
    pub fn page_response(&self) -> HttpResponse {
        if let Some(location) = &self.go_first_to {
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location.as_str()))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish();
        }
        self.error.log();
        if matches!(self.error, AppError::Unauthenticated(_)) {
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, self.sign_in_url()))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish();
        }
        let page = ErrorPage {
            status: self.error.status_code().as_u16(),
            title: self.title(),
            message: self.message(),
        };
        html_response(self.error.status_code(), askama::Template::render(&page))
    }

    /// For htmx: a toast appended to the page's toast area, whatever the request targeted.
    pub fn toast_response(&self) -> HttpResponse {
        if let Some(location) = &self.go_first_to {
            return HttpResponse::Ok()
                .insert_header(("HX-Redirect", location.as_str()))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish();
        }
        self.error.log();
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
        let mut res = html_response(self.error.status_code(), askama::Template::render(&toast));
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
        self.error.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        self.page_response()
    }
}
