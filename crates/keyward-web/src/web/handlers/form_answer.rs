//! How a dashboard form answers, with JavaScript and without. htmx swaps a partial into
//! the dialog or the list and says "done" in a toast; a plain browser gets whole pages
//! and, once done, a 303 to the page where the message waits as a flash. A form shown
//! again beside its errors answers 422 either way.

use crate::error::HtmlError;
use crate::web::htmx::{html, partial_with_toast, redirect, Htmx};
use crate::web::session::{self, SignedIn};
use crate::web::views::Layout;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;

/// One request's way of answering: whether htmx asks, who is signed in, and the nav
/// entry its whole pages mark as current.
#[derive(Clone, Copy)]
pub(crate) struct FormAnswer<'a> {
    hx: Htmx,
    signed_in: &'a SignedIn,
    nav: &'static str,
}

impl<'a> FormAnswer<'a> {
    pub(crate) fn new(hx: Htmx, signed_in: &'a SignedIn, nav: &'static str) -> Self {
        Self { hx, signed_in, nav }
    }

    /// A whole page's layout. Build it only for a page that is sent: it takes the
    /// session's flash message.
    pub(crate) fn layout(&self, title: impl Into<String>) -> Layout {
        Layout::signed_in(self.signed_in, title, self.nav)
    }

    /// `view` as `partial(view)` for htmx, else inside the whole page `page(layout, view)`
    /// titled `title`: a dialog, or the page it is without JavaScript; with 422, a form
    /// shown again beside its errors.
    pub(crate) fn show<V, P: Template, Q: Template>(
        &self,
        status: StatusCode,
        title: impl Into<String>,
        view: V,
        partial: impl FnOnce(V) -> P,
        page: impl FnOnce(Layout, V) -> Q,
    ) -> Result<HttpResponse, HtmlError> {
        if self.hx.wants_partial() {
            return html(status, &partial(view));
        }
        html(status, &page(self.layout(title), view))
    }

    /// A dialog's form again beside its errors (422) when its success is swapped
    /// elsewhere (into the list): htmx is told to put it back into the dialog.
    pub(crate) fn invalid_in_dialog<V, P: Template, Q: Template>(
        &self,
        title: impl Into<String>,
        form: V,
        partial: impl FnOnce(V) -> P,
        page: impl FnOnce(Layout, V) -> Q,
    ) -> Result<HttpResponse, HtmlError> {
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        let mut res = self.show(status, title, form, partial, page)?;
        if self.hx.wants_partial() {
            let headers = res.headers_mut();
            headers.insert(
                HeaderName::from_static("hx-retarget"),
                HeaderValue::from_static("#dialog-body"),
            );
            headers.insert(
                HeaderName::from_static("hx-reswap"),
                HeaderValue::from_static("innerHTML"),
            );
        }
        Ok(res)
    }

    /// A page that is its own form, posted without htmx (`hx-ignore`), again beside its
    /// errors: 422.
    pub(crate) fn invalid_page(&self, page: &impl Template) -> Result<HttpResponse, HtmlError> {
        html(StatusCode::UNPROCESSABLE_ENTITY, page)
    }

    /// Done, and the answer is another page: `message` waits there as a flash; htmx
    /// follows `HX-Redirect`, a plain POST a 303.
    pub(crate) fn done_at(
        &self,
        message: impl Into<String>,
        location: &str,
    ) -> Result<HttpResponse, HtmlError> {
        session::set_flash(&self.signed_in.session, message)?;
        Ok(redirect(self.hx, location))
    }

    /// Done, staying on the page: htmx gets `partial()` (say, the list without the row
    /// just deleted) with `message` in a toast; a plain POST is redirected to `back`, where
    /// the message waits as a flash. `partial` runs only for htmx.
    pub(crate) async fn done_here<P: Template>(
        &self,
        message: String,
        back: &str,
        partial: impl AsyncFnOnce() -> Result<P, HtmlError>,
    ) -> Result<HttpResponse, HtmlError> {
        if !self.hx.wants_partial() {
            return self.done_at(message, back);
        }
        partial_with_toast(&partial().await?, &message)
    }
}
