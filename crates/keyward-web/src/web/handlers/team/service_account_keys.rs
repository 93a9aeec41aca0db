//! A service account's keys on its page: the list, the create dialog that shows a key
//! once, and revocation (as on User › API Keys, but only this account's keys in this tenant).

use super::service_account_page::{detail, detail_for, detail_page, Detail};
use super::service_accounts::{SaKeyPath, SaPath};
use super::team_of;
use crate::domain::{AccountId, ApiKeyId, TenantId};
use crate::error::{AppError, HtmlError};
use crate::services::service_accounts;
use crate::web::handlers::form_answer::FormAnswer;
use crate::web::handlers::key_creation::{
    create_key_from_form, created_key_dialog, key_form_answer, CreateKeyInput,
};
use crate::web::handlers::key_dependents::delete_dialog;
use crate::web::handlers::key_lifecycle::{key_policy_of, revoke, DeleteInput};
use crate::web::handlers::key_list::KeyListQuery;
use crate::web::htmx::{html, Htmx};
use crate::web::session::{self, SignedIn};
use crate::web::views::{ApiKeysListPartial, CreateKeyForm, FieldErrors, KeyRow};
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use time::PrimitiveDateTime;

const NAV: &str = "team-service-accounts";

/// `GET …/{sa_id}/api-keys`: the key list (htmx refreshes it after a key is created).
pub async fn keys(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<SaPath>,
    query: web::Query<KeyListQuery>,
) -> Result<HttpResponse, HtmlError> {
    let query = query.into_inner();
    let d = detail_for(&signed_in, &state, &path.slug, &path.sa_id, query, None).await?;
    html(StatusCode::OK, &ApiKeysListPartial { list: d.list })
}

fn key_form(
    signed_in: &SignedIn,
    target: &KeyTarget,
    nonce: String,
    input: CreateKeyInput,
    now: PrimitiveDateTime,
    errors: FieldErrors,
) -> CreateKeyForm {
    // A service account's keys serve its own tenant only: nothing to choose.
    input.into_form(
        signed_in,
        (target.list_url.clone(), target.url.clone()),
        nonce,
        now,
        Vec::new(),
        errors,
    )
}

/// What making a key needs of its service account: that the caller manages it in this
/// team, and its addresses; not the page's key list and agents (`detail`).
struct KeyTarget {
    tenant_id: TenantId,
    account_id: String,
    url: String,
    list_url: String,
}

async fn key_target(
    signed_in: &SignedIn,
    state: &AppState,
    slug: &str,
    sa_id: &str,
) -> Result<KeyTarget, HtmlError> {
    let team = team_of(signed_in, slug)?;
    let id = AccountId::parse_as("sa_id", sa_id).map_err(AppError::from)?;
    let (actor, tenant_id) = (signed_in.actor(), team.id.clone());
    let account = state
        .run(move |conn, _| service_accounts::find_managed(conn, &actor, Some(&tenant_id), &id))
        .await?;
    let url = format!("{}/service-accounts/{}", team.base, account.id);
    Ok(KeyTarget {
        tenant_id: team.id,
        account_id: account.id,
        list_url: format!("{url}/api-keys"),
        url,
    })
}

/// `GET …/{sa_id}/api-keys/new`: the create-key dialog, with a one-time nonce.
pub async fn new_key_form(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<SaPath>,
) -> Result<HttpResponse, HtmlError> {
    let target = key_target(&signed_in, &state, &path.slug, &path.sa_id).await?;
    let nonce = session::issue_form_nonce(&signed_in.session)?;
    let form = key_form(
        &signed_in,
        &target,
        nonce,
        CreateKeyInput::default(),
        state.clock.now(),
        FieldErrors::default(),
    );
    let policy = key_policy_of(&state, &signed_in, Some(target.tenant_id.to_string())).await;
    let answer = FormAnswer::new(hx, &signed_in, NAV);
    key_form_answer(&answer, StatusCode::OK, form.with_policy(policy))
}

/// `POST …/{sa_id}/api-keys`: creates the key once per form and shows it once.
pub async fn create_key(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<SaPath>,
    input: web::Form<CreateKeyInput>,
) -> Result<HttpResponse, HtmlError> {
    let mut input = input.into_inner();
    let target = key_target(&signed_in, &state, &path.slug, &path.sa_id).await?;
    // The key serves the tenant of the URL, whatever the form says.
    input.tenant_id = target.tenant_id.to_string();
    let outcome = create_key_from_form(
        &state,
        &signed_in,
        &input,
        &target.account_id,
        FieldErrors::default(),
        &target.url,
    )
    .await?;
    let view = match outcome {
        Ok(view) => view,
        Err(errors) => {
            let nonce = input.nonce.clone();
            let form = key_form(&signed_in, &target, nonce, input, state.clock.now(), errors);
            let policy =
                key_policy_of(&state, &signed_in, Some(target.tenant_id.to_string())).await;
            let answer = FormAnswer::new(hx, &signed_in, NAV);
            return key_form_answer(
                &answer,
                StatusCode::UNPROCESSABLE_ENTITY,
                form.with_policy(policy),
            );
        }
    };
    if hx.wants_partial() {
        return created_key_dialog(view);
    }
    // Without JavaScript the whole page answers, with the new key on it.
    let d = detail(&signed_in, &state, &path.slug, &path.sa_id).await?;
    html(
        StatusCode::OK,
        &detail_page(&signed_in, d, FieldErrors::default(), None, Some(view)),
    )
}

/// `GET …/{sa_id}/api-keys/{id}/delete`: the confirmation naming the key.
pub async fn delete_key_form(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<SaKeyPath>,
) -> Result<HttpResponse, HtmlError> {
    let (d, key) = key_on_page(&signed_in, &state, &path).await?;
    let answer = FormAnswer::new(hx, &signed_in, NAV);
    delete_dialog(&answer, &state, &signed_in, key, d.account.url).await
}

/// The service account's page narrowed to the key in the path; NOT_FOUND for a key of
/// another account or tenant, as for an unknown one.
pub(super) async fn key_on_page(
    signed_in: &SignedIn,
    state: &AppState,
    path: &SaKeyPath,
) -> Result<(Detail, KeyRow), HtmlError> {
    let d = detail_for(
        signed_in,
        state,
        &path.slug,
        &path.sa_id,
        KeyListQuery::default(),
        Some(&path.id),
    )
    .await?;
    let key = d
        .list
        .keys
        .iter()
        .find(|k| k.id == path.id)
        .cloned()
        .ok_or_else(|| HtmlError::from(AppError::not_found("API key not found")))?;
    Ok((d, key))
}

/// `POST …/{sa_id}/api-keys/{id}/delete`: only this service account's key in this tenant.
pub async fn delete_key(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<SaKeyPath>,
    input: Option<web::Form<DeleteInput>>,
) -> Result<HttpResponse, HtmlError> {
    let team = team_of(&signed_in, &path.slug)?;
    let key_id = ApiKeyId::parse_as("id", &path.id).map_err(AppError::from)?;
    let sa_id = AccountId::parse_as("sa_id", &path.sa_id).map_err(AppError::from)?;
    let scope = Some((team.id.clone(), Some(sa_id)));
    let with_descendants = DeleteInput::wanted(input);
    let (key, also) = revoke(&state, &signed_in, key_id, scope, with_descendants).await?;
    let message = format!("Deleted the API key “{}”{also}.", key.name);
    let back = format!("{}/service-accounts/{}", team.base, path.sa_id);
    let answer = FormAnswer::new(hx, &signed_in, NAV);
    answer
        .done_here(message, &back, async || {
            let d = detail(&signed_in, &state, &path.slug, &path.sa_id).await?;
            Ok(ApiKeysListPartial { list: d.list })
        })
        .await
}
