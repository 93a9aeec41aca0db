//! Error pages people can leave: a full-page error (403, 404, 409, …) for a browser is
//! drawn inside the dashboard's layout, with the navigation and tenant switcher of whoever
//! is signed in, and unknown URLs get the same "Not found" page instead of an empty 404.

use crate::error::{status_code, ApiError, AppError, HtmlError};
use crate::web::htmx::Htmx;
use crate::web::session::SignedIn;
use crate::web::views::Layout;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpRequest, HttpResponse};

#[derive(askama::Template)]
#[template(path = "pages/error.html")]
struct ErrorInLayout {
    layout: Layout,
    status: u16,
    message: String,
}

/// Answers every URL no route matches: JSON for the API, a Keyward page for people.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, actix_web::Error> {
    let path = req.path();
    let error = AppError::not_found(
        "there is no page at this address; check the link or use the navigation above",
    );
    if path.starts_with("/api/") || path.starts_with("/graphql/") {
        return Err(ApiError::from(error).into());
    }
    Err(HtmlError::from(error).into())
}

/// Draws a browser's full-page error inside the layout, the one time it is drawn (htmx
/// requests get toasts from `htmx::errors_as_toasts`; sign-in redirects stay redirects).
pub async fn in_layout(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let htmx = Htmx::of(req.headers()).request;
    let res = next.call(req).await?;
    if htmx {
        return Ok(res.map_into_boxed_body());
    }
    let page = res
        .response()
        .error()
        .and_then(|e| e.as_error::<HtmlError>())
        .filter(|e| !matches!(e.error, AppError::Unauthenticated(_)) && e.go_first_to.is_none())
        .map(|e| (e.title(), e.message(), status_code(&e.error)));
    let Some((title, message, status)) = page else {
        return Ok(res.map_into_boxed_body());
    };
    // The handler's own SignedIn when it asked for one; read here only when it did not
    // (an unknown URL, an anonymous page).
    let seen = crate::web::session::seen_signed_in(res.request());
    let signed_in = match seen {
        Some(seen) => seen,
        None => SignedIn::extract(res.request()).await.ok(),
    };
    let layout = match &signed_in {
        Some(s) => Layout::signed_in(s, title, ""),
        None => Layout::anonymous(title),
    };
    let page = ErrorInLayout {
        layout,
        status: status.as_u16(),
        message,
    };
    let Ok(body) = askama::Template::render(&page) else {
        let page = res
            .response()
            .error()
            .and_then(|e| e.as_error::<HtmlError>())
            .map(HtmlError::page_response);
        return Ok(match page {
            Some(page) => res.into_response(page),
            None => res.map_into_boxed_body(),
        });
    };
    let response = HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body);
    Ok(res.into_response(response))
}
