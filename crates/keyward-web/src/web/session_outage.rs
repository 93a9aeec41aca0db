//! When the session store cannot reach the database, actix-session answers an opaque,
//! empty 500 for every request that carries a session cookie (pages, but also `/readyz`
//! and `/api/*`). This middleware, just outside the session middleware, turns exactly
//! that failure into the 503 each surface renders for an unavailable database.

use crate::error::{ApiError, AppError, HtmlError};
use actix_session::storage::{LoadError, SaveError, UpdateError};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};

pub async fn store_unavailable_as_503(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let surface = Surface::of(req.method(), req.path());
    match next.call(req).await {
        Ok(res) => Ok(res.map_into_boxed_body()),
        Err(e) if store_unavailable(&e) => Err(surface.unavailable()),
        Err(e) => Err(e),
    }
}

fn unavailable() -> AppError {
    AppError::Unavailable("the session store cannot reach the database".into())
}

/// Whether actix-session failed because the store answered `AppError::Unavailable`.
fn store_unavailable(e: &actix_web::Error) -> bool {
    let message = unavailable().to_string();
    let said = e
        .as_error::<InternalError<anyhow::Error>>()
        .map(ToString::to_string)
        .or_else(|| {
            e.as_error::<InternalError<LoadError>>()
                .map(ToString::to_string)
        })
        .or_else(|| {
            e.as_error::<InternalError<SaveError>>()
                .map(ToString::to_string)
        })
        .or_else(|| {
            e.as_error::<InternalError<UpdateError>>()
                .map(ToString::to_string)
        });
    said.is_some_and(|s| s.contains(&message))
}

#[derive(Debug, Clone, Copy)]
enum Surface {
    Json,
    Graphql,
    Page,
}

impl Surface {
    fn of(method: &actix_web::http::Method, path: &str) -> Self {
        let post = method == actix_web::http::Method::POST;
        if path == "/graphql" || (post && path == "/") {
            Surface::Graphql
        } else if path.starts_with("/api/") || path == "/readyz" || path == "/healthz" {
            Surface::Json
        } else {
            Surface::Page
        }
    }

    fn unavailable(self) -> actix_web::Error {
        match self {
            Surface::Json => ApiError::from(unavailable()).into(),
            Surface::Graphql => GraphqlUnavailable.into(),
            // No middleware is left to draw it (the database is down, so no layout either):
            // the page on its own, drawn here.
            Surface::Page => {
                let error = HtmlError::from(unavailable());
                error.error.log();
                let page = error.page_response();
                InternalError::from_response(error, page).into()
            }
        }
    }
}

/// The GraphQL endpoint's own shape: `errors[0].extensions.code = SERVICE_UNAVAILABLE`.
#[derive(Debug)]
struct GraphqlUnavailable;

impl std::fmt::Display for GraphqlUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&unavailable(), f)
    }
}

impl ResponseError for GraphqlUnavailable {
    fn status_code(&self) -> actix_web::http::StatusCode {
        actix_web::http::StatusCode::SERVICE_UNAVAILABLE
    }

    fn error_response(&self) -> HttpResponse {
        crate::web::handlers::graphql::error_response(self.status_code(), &unavailable())
    }
}
