//! User › API Keys (`/user/api-keys`): your keys in every tenant, the create dialog with a
//! one-time nonce and the key shown once, and delete with confirmation. Every page answers
//! htmx with its partial (the dialog content or the list) and everyone else with the whole
//! page, so the forms also work as plain POSTs without JavaScript.

use crate::domain::{AllowedIps, ExpiresAt, InvalidInput, KeyName};
use crate::error::{AppError, HtmlError};
use crate::services::api_keys::NewApiKey;
use crate::services::{ip_allow, key_lists};
use crate::web::handlers::key_dependents::key_dependents;
use crate::web::handlers::key_lifecycle::{
    created_view, descendants_note, expiring_banner, key_policy_of, revoke, DeleteInput,
};
use crate::web::handlers::key_list::{KeyListQuery, KeyListView};
use crate::web::htmx::{html, partial_with_toast, redirect, Htmx};
use crate::web::session::{self, SignedIn};
use crate::web::views::{
    date, ApiKeyCreatedPartial, ApiKeyDeletePage, ApiKeyDeletePartial, ApiKeyFormPartial,
    ApiKeyNewPage, ApiKeysListPartial, CreateKeyForm, CreatedKeyView, FieldErrors, KeyRow, Layout,
    TenantOption, UserApiKeysPage,
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

/// What was typed into the create form, kept to show it again beside its errors.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct CreateKeyInput {
    pub(crate) nonce: String,
    pub(crate) name: String,
    pub(crate) expiration: String,
    pub(crate) expires_on: String,
    pub(crate) tenant_id: String,
    /// A checkbox: present ("on") when ticked.
    pub(crate) read_only: String,
    /// IP ranges the key may be used from, comma- or space-separated; empty = anywhere.
    pub(crate) allowed_ips: String,
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

impl CreateKeyInput {
    /// The create-key form again with what was typed (30 days unless an expiration was
    /// chosen), posting to `action` and leaving for `cancel_url`.
    pub(crate) fn into_form(
        self,
        signed_in: &SignedIn,
        (action, cancel_url): (String, String),
        nonce: String,
        now: PrimitiveDateTime,
        tenants: Vec<TenantOption>,
        errors: FieldErrors,
    ) -> CreateKeyForm {
        CreateKeyForm {
            action,
            cancel_url,
            csrf_token: signed_in.csrf_token.clone(),
            nonce,
            name: self.name,
            expiration: if self.expiration.is_empty() {
                "30".into()
            } else {
                self.expiration
            },
            expires_on: self.expires_on,
            read_only: !self.read_only.is_empty(),
            expirations: crate::web::views::EXPIRATIONS.to_vec(),
            policy_note: None,
            allowed_ips: self.allowed_ips,
            today: date(now),
            tenants,
            errors,
        }
    }
}

fn form_response(
    hx: Htmx,
    status: StatusCode,
    signed_in: &SignedIn,
    form: CreateKeyForm,
) -> Result<HttpResponse, HtmlError> {
    if hx.wants_partial() {
        html(status, &ApiKeyFormPartial { form })
    } else {
        html(
            status,
            &ApiKeyNewPage {
                layout: Layout::signed_in(signed_in, "Create an API Key", NAV),
                form,
            },
        )
    }
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
    form_response(hx, StatusCode::OK, &signed_in, form.with_policy(policy))
}

/// Never, 7 / 30 / 90 days (now + N × 24 h), or a date (00:00 UTC of the day after).
pub(crate) fn parse_expiration(
    choice: &str,
    on: &str,
    now: PrimitiveDateTime,
) -> Result<Option<ExpiresAt>, InvalidInput> {
    const FIELD: &str = "expires_at";
    // Without JavaScript the date field is always there: a date typed beside a preset
    // must not be dropped silently.
    if !matches!(choice.trim(), "date") && !on.trim().is_empty() {
        return Err(InvalidInput::new(
            FIELD,
            "you typed a date but chose another expiration: choose “On a date…” to use the date, or clear it",
        ));
    }
    match choice.trim() {
        "" | "never" => Ok(None),
        "date" => {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            let day = time::Date::parse(on.trim(), format)
                .map_err(|_| InvalidInput::new(FIELD, "choose a date, such as 2031-01-31"))?;
            ExpiresAt::end_of_date(day, now).map(Some)
        }
        days => match days.parse::<i64>() {
            Ok(n @ (7 | 30 | 90)) => ExpiresAt::in_days(n, now).map(Some),
            _ => Err(InvalidInput::new(
                FIELD,
                "choose Never, 7, 30 or 90 days, or a date",
            )),
        },
    }
}

/// The id a create form's key gets: derived from the form's one-time nonce, so two
/// submissions of one form, even at the same instant, can store only one key (the id is
/// unique). The nonce is random and one person's, so ids stay unpredictable and distinct.
fn key_id_for_form(account_id: &str, nonce: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{account_id}:{nonce}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// Which form field an error from the key service is about.
pub(crate) fn form_field(error: &AppError) -> Option<&'static str> {
    match error {
        AppError::Invalid(i) => Some(match i.field {
            "tenant" | "tenant_id" => "tenant_id",
            "expires_at" => "expires_at",
            "allowed_ips" => "allowed_ips",
            _ => "name",
        }),
        // Choosing a tenant you do not belong to (an edited form).
        AppError::Forbidden(_) => Some("tenant_id"),
        _ => None,
    }
}

/// Checks a create-key form and creates its key once per form (its one-time nonce
/// becomes the key's id). `Ok(Err(errors))`: show the form again with these errors.
/// Shared by every create-key form: yours, and a service account's on the team pages.
pub(crate) async fn create_key_from_form(
    state: &AppState,
    signed_in: &SignedIn,
    input: &CreateKeyInput,
    account_id: &str,
    mut errors: FieldErrors,
    done_url: &str,
) -> Result<Result<CreatedKeyView, FieldErrors>, HtmlError> {
    if !session::form_nonce_is_live(&signed_in.session, &input.nonce) {
        return Err(AppError::Conflict(
            "this form was already used, so nothing was created; open “Create an API Key” again to make another key".into(),
        )
        .into());
    }
    let now = state.clock.now();
    let name = KeyName::parse(&input.name)
        .map_err(|e| errors.add("name", e.message))
        .ok();
    let expires_at = parse_expiration(&input.expiration, &input.expires_on, now)
        .map_err(|e| errors.add("expires_at", e.message))
        .ok();
    let allowed = AllowedIps::parse(
        &input
            .allowed_ips
            .split(|c: char| c == ',' || c.is_whitespace())
            .collect::<Vec<_>>(),
    )
    .map_err(|e| errors.add("allowed_ips", e.message))
    .ok();
    if input.tenant_id.trim().is_empty() {
        errors.add("tenant_id", "choose the tenant the key is for");
    }
    let (Some(name), Some(expires_at), Some(allowed), true) =
        (name, expires_at, allowed, errors.is_empty())
    else {
        return Ok(Err(errors));
    };
    let actor = signed_in.actor();
    let new_key = NewApiKey {
        account_id: account_id.to_string(),
        tenant_id: Some(input.tenant_id.clone()),
        name,
        expires_at,
        read_only: !input.read_only.is_empty(),
    };
    let key_id = key_id_for_form(signed_in.account_id(), &input.nonce);
    let quotas = state.settings.quotas;
    let created = match state
        .run(move |conn, now| {
            ip_allow::create_api_key_allowed_from(
                conn, &actor, now, new_key, key_id, &allowed, &quotas,
            )
        })
        .await
    {
        Ok(created) => created,
        Err(e) => {
            let Some(field) = form_field(&e) else {
                return Err(e.into());
            };
            let message = match &e {
                AppError::Invalid(i) => i.message.clone(),
                other => other.to_string(),
            };
            let mut errors = FieldErrors::default();
            errors.add(field, message);
            return Ok(Err(errors));
        }
    };
    session::consume_form_nonce(&signed_in.session, &input.nonce)?;
    Ok(Ok(created_view(signed_in, &created, now, done_url, None)))
}

/// The dialog showing a new key once; it tells the key list to refresh itself.
pub(crate) fn created_key_dialog(view: CreatedKeyView) -> Result<HttpResponse, HtmlError> {
    let mut res = html(StatusCode::OK, &ApiKeyCreatedPartial { created: view })?;
    res.headers_mut().insert(
        actix_web::http::header::HeaderName::from_static("hx-trigger"),
        actix_web::http::header::HeaderValue::from_static("api-keys-changed"),
    );
    Ok(res)
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
            let form = form.with_policy(policy);
            return form_response(hx, StatusCode::UNPROCESSABLE_ENTITY, &signed_in, form);
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
    let key_id = key_id.to_string();
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
    let dependents = key_dependents(&state, &signed_in, &key.id).await?;
    let descendants = descendants_note(&state, &signed_in, &key.id).await;
    let csrf_token = signed_in.csrf_token.clone();
    if hx.wants_partial() {
        return html(
            StatusCode::OK,
            &ApiKeyDeletePartial {
                key,
                descendants,
                csrf_token,
                back_url: PATH.into(),
                dependents: dependents.clone(),
            },
        );
    }
    html(
        StatusCode::OK,
        &ApiKeyDeletePage {
            layout: Layout::signed_in(&signed_in, "Delete an API key", NAV),
            key,
            descendants,
            csrf_token,
            back_url: PATH.into(),
            dependents,
        },
    )
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
    let (key, also) = revoke(
        &state,
        &signed_in,
        key_id.into_inner(),
        None,
        with_descendants,
    )
    .await?;
    let message = format!("Deleted the API key “{}”{also}.", key.name);
    if !hx.wants_partial() {
        session::set_flash(&signed_in.session, message)?;
        return Ok(redirect(hx, PATH));
    }
    let list = own_keys(&state, &signed_in, KeyListQuery::default()).await?;
    partial_with_toast(&ApiKeysListPartial { list }, &message)
}
