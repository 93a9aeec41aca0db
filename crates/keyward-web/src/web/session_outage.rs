//! When the session store cannot reach the database, actix-session answers an opaque,
//! empty 500 and keeps the store's error to itself. So the store says so here, by type:
//! `note` records an `AppError::Unavailable` for the request being served, and this
//! middleware, just outside the session middleware (the dashboard's routes only), turns
//! exactly that failure into the 503 page the dashboard shows for an unavailable database.
//! Both that page and any other error of the session middleware are answered by actix
//! after every middleware has run, so they get the security headers and the request id
//! here.

use crate::error::{AppError, HtmlError};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::middleware::Next;
use std::cell::Cell;

tokio::task_local! {
    /// Whether the session store failed with `AppError::Unavailable` in this request.
    static STORE_UNAVAILABLE: Cell<bool>;
}

pub async fn store_unavailable_as_503(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // The page below is answered by actix after every middleware: its headers are
    // added here.
    let mut answer_headers = actix_web::http::header::HeaderMap::new();
    crate::web::logging::RequestId::add_to(&req, &mut answer_headers);
    crate::web::security_headers::apply(&mut answer_headers);
    let (unavailable, result) = STORE_UNAVAILABLE
        .scope(Cell::new(false), async {
            let result = next.call(req).await;
            (STORE_UNAVAILABLE.with(Cell::get), result)
        })
        .await;
    match result {
        Ok(res) => Ok(res.map_into_boxed_body()),
        Err(_) if unavailable => {
            // No middleware is left to draw it (the database is down, so no layout
            // either): the page on its own, drawn here.
            let error = HtmlError::from(AppError::Unavailable(
                "the session store cannot reach the database".into(),
            ));
            error.error.log();
            let mut page = error.page_response();
            for (name, value) in answer_headers {
                page.headers_mut().insert(name, value);
            }
            Err(InternalError::from_response(error, page).into())
        }
        Err(e) => {
            // actix-session's own failures (its opaque 500), with the headers too.
            let mut answer = e.error_response();
            for (name, value) in answer_headers {
                answer.headers_mut().insert(name, value);
            }
            Err(InternalError::from_response(e, answer).into())
        }
    }
}

/// Called by the session store with each error it hands to actix-session. Outside this
/// middleware (a request it does not wrap) it does nothing.
pub fn note(e: &AppError) {
    if matches!(e, AppError::Unavailable(_)) {
        let _ = STORE_UNAVAILABLE.try_with(|unavailable| unavailable.set(true));
    }
}
