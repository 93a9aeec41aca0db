//! Editing a key's IP allow-list from its row (issue 16), on User › API Keys and, through
//! `save_allowed_ips`, on a service account's page: a dialog (its own page without
//! JavaScript) with the ranges; whoever may revoke the key may change them, as through
//! `set_api_key_allowed_ips`, and each change is audited by the same service.

use crate::domain::{AccountId, AllowedIps, TenantId};
use crate::error::HtmlError;
use crate::services::api_keys::KeyScope;
use crate::services::ip_allow;
use crate::web::handlers::form_answer::FormAnswer;
use crate::web::handlers::key_list::KeyListQuery;
use crate::web::handlers::user_api_keys::{own_key, own_keys};
use crate::web::htmx::Htmx;
use crate::web::session::SignedIn;
use crate::web::views::{
    AllowedIpsForm, ApiKeyAllowedIpsPage, ApiKeyAllowedIpsPartial, ApiKeysListPartial, FieldErrors,
    KeyRow,
};
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

const PATH: &str = "/user/api-keys";
const TITLE: &str = "Where an API key may be used from";

#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct AllowedIpsInput {
    /// The ranges, comma- or space-separated; empty = anywhere.
    allowed_ips: String,
}

fn form(signed_in: &SignedIn, key: KeyRow, back_url: String) -> AllowedIpsForm {
    AllowedIpsForm {
        allowed_ips: key.allowed_ips_typed.clone(),
        key,
        csrf_token: signed_in.csrf_token.clone(),
        back_url,
        errors: FieldErrors::default(),
    }
}

/// The dialog for `key` with its current list; "Cancel" leads to `back_url`.
pub(crate) fn allowed_ips_dialog(
    answer: &FormAnswer<'_>,
    signed_in: &SignedIn,
    key: KeyRow,
    back_url: String,
) -> Result<HttpResponse, HtmlError> {
    answer.show(
        StatusCode::OK,
        TITLE,
        form(signed_in, key, back_url),
        |form| ApiKeyAllowedIpsPartial { form },
        |layout, form| ApiKeyAllowedIpsPage { layout, form },
    )
}

/// The key a page edits the list of: found again inside `scope` (a team page's tenant
/// and service account) when saved; "Cancel" and a plain POST's redirect lead to `back_url`.
pub(crate) struct EditedKey {
    pub(crate) key: KeyRow,
    pub(crate) scope: Option<(TenantId, Option<AccountId>)>,
    pub(crate) back_url: String,
}

/// Sets the typed ranges on the key: the dialog again beside a bad range (422); done,
/// htmx gets `list()` with a toast, a plain POST goes back to the page.
pub(crate) async fn save_allowed_ips(
    answer: &FormAnswer<'_>,
    state: &AppState,
    signed_in: &SignedIn,
    edited: EditedKey,
    input: AllowedIpsInput,
    list: impl AsyncFnOnce() -> Result<ApiKeysListPartial, HtmlError>,
) -> Result<HttpResponse, HtmlError> {
    let EditedKey {
        key,
        scope,
        back_url,
    } = edited;
    let allowed = match AllowedIps::parse_typed(&input.allowed_ips) {
        Ok(allowed) => allowed,
        Err(e) => {
            let mut form = form(signed_in, key, back_url);
            form.allowed_ips = input.allowed_ips;
            form.errors.add("allowed_ips", e.message);
            return answer.invalid_in_dialog(
                TITLE,
                form,
                |form| ApiKeyAllowedIpsPartial { form },
                |layout, form| ApiKeyAllowedIpsPage { layout, form },
            );
        }
    };
    let (actor, key_id) = (signed_in.actor(), key.id);
    let saved = state
        .run(move |conn, now| {
            let scope = scope.as_ref().map(|(tenant_id, account_id)| KeyScope {
                tenant_id,
                account_id: account_id.as_ref(),
            });
            ip_allow::set_api_key_allowed_ips(conn, &actor, now, &key_id, scope, &allowed)
        })
        .await?;
    let now_allowed = AllowedIps::from_stored(saved.allowed_ips.as_deref());
    let message = if now_allowed.is_anywhere() {
        format!(
            "The API key “{}” may now be used from anywhere.",
            saved.name
        )
    } else {
        format!(
            "The API key “{}” may now be used only from {}.",
            saved.name,
            now_allowed.texts().join(", ")
        )
    };
    answer.done_here(message, &back_url, list).await
}

/// `GET /user/api-keys/{id}/allowed-ips`: the dialog (your own keys only; any other
/// answers 404, like an unknown id).
pub async fn allowed_ips_form(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    key_id: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let key = own_key(&state, &signed_in, &key_id).await?;
    let answer = FormAnswer::new(hx, &signed_in, "api-keys");
    allowed_ips_dialog(&answer, &signed_in, key, PATH.into())
}

/// `POST /user/api-keys/{id}/allowed-ips`
pub async fn set_allowed_ips(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    key_id: web::Path<String>,
    input: web::Form<AllowedIpsInput>,
) -> Result<HttpResponse, HtmlError> {
    let key = own_key(&state, &signed_in, &key_id).await?;
    let answer = FormAnswer::new(hx, &signed_in, "api-keys");
    let list = async || {
        let list = own_keys(&state, &signed_in, KeyListQuery::default()).await?;
        Ok(ApiKeysListPartial { list })
    };
    let input = input.into_inner();
    let edited = EditedKey {
        key,
        scope: None,
        back_url: PATH.into(),
    };
    save_allowed_ips(&answer, &state, &signed_in, edited, input, list).await
}
