//! User › API Keys (`/user/api-keys`): your keys in every tenant, the create dialog with a
//! one-time nonce and the key shown once, and delete with confirmation. Every page answers
//! htmx with its partial (the dialog content or the list) and everyone else with the whole
//! page, so the forms also work as plain POSTs without JavaScript.

use crate::domain::ApiKeyId;
use crate::error::{AppError, HtmlError};
use crate::services::key_lists;
use crate::web::handlers::form_answer::FormAnswer;
use crate::web::handlers::key_creation::{
    create_key_from_form, created_key_dialog, key_form_answer, CreateKeyInput,
};
use crate::web::handlers::key_dependents::delete_dialog;
use crate::web::handlers::key_lifecycle::{expiring_banner, key_policy_of, revoke, DeleteInput};
use crate::web::handlers::key_list::{KeyListQuery, KeyListView};
use crate::web::htmx::{html, Htmx};
use crate::web::session::{self, SignedIn};
use crate::web::views::{
    ApiKeysListPartial, CreateKeyForm, FieldErrors, KeyRow, Layout, TenantOption, UserApiKeysPage,
};
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use time::PrimitiveDateTime;

const PATH: &str = "/user/api-keys";
const TITLE: &str = "API Keys";
const NAV: &str = "api-keys";

/// A page of the signed-in person's keys, as `query` asks.
pub(crate) async fn own_keys(
    state: &AppState,
    signed_in: &SignedIn,
    query: KeyListQuery,
) -> Result<KeyListView, HtmlError> {
    let actor = signed_in.actor();
    let (w, page_request) = query.request(state.clock.now());
    let (page, now) = state
        .run(move |conn, now| {
            let page = key_lists::own_api_keys_page(conn, &actor, &w, &page_request)?;
            Ok((page, now))
        })
        .await?;
    let rows = KeyRow::list_with_clients(&page, now);
    Ok(KeyListView::new(PATH, &query, &page, rows))
}

/// `/user`: the person's pages start at their API keys.
pub async fn home(hx: Htmx, _signed_in: SignedIn) -> HttpResponse {
    crate::web::htmx::redirect(hx, "/user/api-keys")
}

/// `GET /user/api-keys`: the page, or for htmx the list (which refreshes itself when a
/// key is created).
pub async fn list(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    query: web::Query<KeyListQuery>,
) -> Result<HttpResponse, HtmlError> {
    let list = own_keys(&state, &signed_in, query.into_inner()).await?;
    if hx.wants_partial() {
        return html(StatusCode::OK, &ApiKeysListPartial { list });
    }
    let expiring = expiring_banner(&state, &signed_in).await;
    html(
        StatusCode::OK,
        &UserApiKeysPage {
            layout: Layout::signed_in(&signed_in, TITLE, NAV),
            list,
            created: None,
            expiring,
        },
    )
}

fn form(
    signed_in: &SignedIn,
    nonce: String,
    input: CreateKeyInput,
    now: PrimitiveDateTime,
    errors: FieldErrors,
) -> CreateKeyForm {
    let selected = if input.tenant_id.is_empty() {
        signed_in.current_tenant().map(|m| m.tenant.id.clone())
    } else {
        Some(input.tenant_id.clone())
    };
    let tenants = TenantOption::list(signed_in, selected.as_deref());
    input.into_form(
        signed_in,
        (PATH.into(), PATH.into()),
        nonce,
        now,
        tenants,
        errors,
    )
}

/// `GET /user/api-keys/new`: the create form (dialog content for htmx), with a fresh
/// one-time nonce.
pub async fn new_form(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HtmlError> {
    let nonce = session::issue_form_nonce(&signed_in.session)?;
    let form = form(
        &signed_in,
        nonce,
        CreateKeyInput::default(),
        state.clock.now(),
        FieldErrors::default(),
    );
    let policy = key_policy_of(&state, &signed_in, form.selected_tenant()).await;
    let answer = FormAnswer::new(hx, &signed_in, NAV);
    key_form_answer(&answer, StatusCode::OK, form.with_policy(policy))
}

/// `POST /user/api-keys`: creates the key once per form; the response shows the secret
/// (and is never stored by the browser), or the form again with its errors.
pub async fn create(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    input: web::Form<CreateKeyInput>,
) -> Result<HttpResponse, HtmlError> {
    let input = input.into_inner();
    let mut errors = FieldErrors::default();
    if signed_in.person.tenants.is_empty() {
        errors.add(
            "tenant_id",
            "you belong to no tenant yet, and a key works in one tenant: ask a tenant admin for an invitation",
        );
    }
    let outcome = create_key_from_form(
        &state,
        &signed_in,
        &input,
        signed_in.account_id(),
        errors,
        PATH,
    )
    .await?;
    let view = match outcome {
        Ok(view) => view,
        Err(errors) => {
            let nonce = input.nonce.clone();
            let form = form(&signed_in, nonce, input, state.clock.now(), errors);
            let policy = key_policy_of(&state, &signed_in, form.selected_tenant()).await;
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
    let list = own_keys(&state, &signed_in, KeyListQuery::default()).await?;
    html(
        StatusCode::OK,
        &UserApiKeysPage {
            layout: Layout::signed_in(&signed_in, TITLE, NAV),
            list,
            created: Some(view),
            expiring: None,
        },
    )
}

pub(crate) async fn own_key(
    state: &AppState,
    signed_in: &SignedIn,
    key_id: &str,
) -> Result<KeyRow, HtmlError> {
    let actor = signed_in.actor();
    let key_id = ApiKeyId::parse_as("id", key_id).map_err(AppError::from)?;
    let (listing, now) = state
        .run(move |conn, now| Ok((key_lists::own_api_key(conn, &actor, &key_id)?, now)))
        .await?;
    listing
        .map(|l| KeyRow::of(&l, now))
        .ok_or_else(|| AppError::not_found("API key not found").into())
}

/// `GET /user/api-keys/{id}/delete`: the confirmation naming the key.
pub async fn delete_form(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    key_id: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let key = own_key(&state, &signed_in, &key_id).await?;
    let answer = FormAnswer::new(hx, &signed_in, NAV);
    delete_dialog(&answer, &state, &signed_in, key, PATH.into()).await
}

/// `POST /user/api-keys/{id}/delete`: htmx gets the list without the key and a toast;
/// a plain POST is redirected to the list, where the toast waits.
pub async fn delete(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    key_id: web::Path<String>,
    input: Option<web::Form<DeleteInput>>,
) -> Result<HttpResponse, HtmlError> {
    let with_descendants = DeleteInput::wanted(input);
    let key_id = ApiKeyId::parse_as("id", &key_id).map_err(AppError::from)?;
    let (key, also) = revoke(&state, &signed_in, key_id, None, with_descendants).await?;
    let message = format!("Deleted the API key “{}”{also}.", key.name);
    let answer = FormAnswer::new(hx, &signed_in, NAV);
    answer
        .done_here(message, PATH, async || {
            let list = own_keys(&state, &signed_in, KeyListQuery::default()).await?;
            Ok(ApiKeysListPartial { list })
        })
        .await
}
