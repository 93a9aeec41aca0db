//! Rotating a service account's key from its page (issue 14): the dialog of User › API
//! Keys, acting only on this account's keys in this tenant; the new key is shown once.

use super::service_account_keys::key_on_page;
use super::service_account_page::{detail_for, detail_page};
use super::service_accounts::SaKeyPath;
use crate::error::HtmlError;
use crate::web::handlers::form_answer::FormAnswer;
use crate::web::handlers::key_creation::created_key_dialog;
use crate::web::handlers::key_lifecycle::{
    rotate_dialog, rotate_to_view, RotateDialog, RotateInput,
};
use crate::web::handlers::key_list::KeyListQuery;
use crate::web::htmx::{html, Htmx};
use crate::web::session::SignedIn;
use crate::web::views::FieldErrors;
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

/// `GET …/{sa_id}/api-keys/{id}/rotate`: the dialog asking for the overlap.
pub async fn rotate_key_form(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<SaKeyPath>,
) -> Result<HttpResponse, HtmlError> {
    let (d, key) = key_on_page(&signed_in, &state, &path).await?;
    let dialog = RotateDialog {
        action: format!("{}/{}/rotate", d.list_url, key.id),
        key,
        back_url: d.account.url,
    };
    let answer = FormAnswer::new(hx, &signed_in, "team-service-accounts");
    rotate_dialog(&answer, &state, &signed_in, dialog, None, StatusCode::OK).await
}

/// `POST …/{sa_id}/api-keys/{id}/rotate`: the new key, shown once on the account's page.
pub async fn rotate_key(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<SaKeyPath>,
    input: web::Form<RotateInput>,
) -> Result<HttpResponse, HtmlError> {
    // The page's permission first: someone who may not see the key learns nothing more.
    let (d, key) = key_on_page(&signed_in, &state, &path).await?;
    let dialog = RotateDialog {
        action: format!("{}/{}/rotate", d.list_url, key.id),
        key,
        back_url: d.account.url.clone(),
    };
    let answer = FormAnswer::new(hx, &signed_in, "team-service-accounts");
    let view =
        match rotate_to_view(&answer, &state, &signed_in, dialog, &input, &d.account.url).await? {
            Ok(view) => view,
            Err(again) => return Ok(again),
        };
    if hx.wants_partial() {
        return created_key_dialog(view);
    }
    // Without JavaScript: the page again, its list showing the rotation, the key on top.
    let d = detail_for(
        &signed_in,
        &state,
        &path.slug,
        &path.sa_id,
        KeyListQuery::default(),
        None,
    )
    .await?;
    html(
        StatusCode::OK,
        &detail_page(&signed_in, d, FieldErrors::default(), None, Some(view)),
    )
}
