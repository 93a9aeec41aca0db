//! Editing a service account's key's IP allow-list from its page (issue 16): the dialog
//! of User › API Keys, acting only on this account's keys in this tenant.

use super::service_account_keys::key_on_page;
use super::service_account_page::detail;
use super::service_accounts::SaKeyPath;
use crate::error::HtmlError;
use crate::web::handlers::form_answer::FormAnswer;
use crate::web::handlers::key_allowed_ips::{
    allowed_ips_dialog, save_allowed_ips, AllowedIpsInput, EditedKey,
};
use crate::web::htmx::Htmx;
use crate::web::session::SignedIn;
use crate::web::views::ApiKeysListPartial;
use crate::web::AppState;
use actix_web::{web, HttpResponse};

const NAV: &str = "team-service-accounts";

/// `GET …/{sa_id}/api-keys/{id}/allowed-ips`: the dialog.
pub async fn allowed_ips_form(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<SaKeyPath>,
) -> Result<HttpResponse, HtmlError> {
    let (d, key) = key_on_page(&signed_in, &state, &path).await?;
    let answer = FormAnswer::new(hx, &signed_in, NAV);
    allowed_ips_dialog(&answer, &signed_in, key, d.account.url)
}

/// `POST …/{sa_id}/api-keys/{id}/allowed-ips`: only this service account's key in this
/// tenant.
pub async fn set_allowed_ips(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<SaKeyPath>,
    input: web::Form<AllowedIpsInput>,
) -> Result<HttpResponse, HtmlError> {
    // The page's permission first: someone who may not see the key learns nothing more.
    let (d, key) = key_on_page(&signed_in, &state, &path).await?;
    let edited = EditedKey {
        key,
        scope: Some((
            d.team.id.clone(),
            Some(crate::domain::AccountId::from_stored(d.account.id.clone())),
        )),
        back_url: d.account.url,
    };
    let answer = FormAnswer::new(hx, &signed_in, NAV);
    let list = async || {
        let d = detail(&signed_in, &state, &path.slug, &path.sa_id).await?;
        Ok(ApiKeysListPartial { list: d.list })
    };
    let input = input.into_inner();
    save_allowed_ips(&answer, &state, &signed_in, edited, input, list).await
}
