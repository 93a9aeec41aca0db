//! The one error type, free of any web framework. Each surface maps it to its answer once
//! (`keyward_web::error`): JSON for `/api/*` and the health routes, GraphQL errors with
//! `extensions.code`, HTML pages and htmx toasts for the dashboard; the CLI to an exit
//! code (below). Internal causes are logged with their whole chain and never shown.

use crate::domain::{InvalidInput, TokenError};
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

/// For `map_err` on a write: `conflict` when a unique constraint refused it (the row is
/// there already), any other database error as it is.
pub fn on_unique_violation(
    conflict: impl FnOnce() -> AppError,
) -> impl FnOnce(diesel::result::Error) -> AppError {
    move |e| {
        if is_unique_violation(&e) {
            conflict()
        } else {
            e.into()
        }
    }
}

impl From<AppError> for crate::domain::CliError {
    fn from(e: AppError) -> Self {
        use AppError::*;
        match &e {
            Invalid(_) | Conflict(_) | NotFound(_) | Forbidden(_) | Unauthenticated(_) => {
                Self::usage(e.to_string())
            }
            _ => {
                e.log();
                Self::failure(e.to_string())
            }
        }
    }
}
