//! Team › Service Accounts: the list, create, the detail page with its keys (created and
//! revoked like User › API Keys), rename, and removal with the count of keys it ends.

use super::team_of;
use crate::domain::PersonName;
use crate::error::{AppError, HtmlError};
use crate::services::api_keys::{self, KeyScope};
use crate::services::key_lists::{self, KeysetPage};
use crate::services::service_accounts::{self, ServiceAccount};
use crate::web::handlers::key_list::{KeyListQuery, KeyListView};
use crate::web::handlers::user_api_keys::{
    create_key_from_form, created_key_dialog, CreateKeyInput,
};
use crate::web::htmx::{html, partial_with_toast, redirect, Htmx};
use crate::web::session::{self, SignedIn};
use crate::web::views::{
    date, ApiKeyDeletePage, ApiKeyDeletePartial, ApiKeyFormPartial, ApiKeyNewPage,
    ApiKeysListPartial, CreateKeyForm, CreatedKeyView, FieldErrors, KeyRow, Layout,
    ServiceAccountForm, ServiceAccountFormPartial, ServiceAccountNewPage, ServiceAccountPage,
    ServiceAccountRemovePage, ServiceAccountRemovePartial, ServiceAccountRow, ServiceAccountsPage,
    TeamTenant, TenantOption,
};
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use time::PrimitiveDateTime;

const NAV: &str = "team-service-accounts";

#[derive(serde::Deserialize)]
pub struct SaPath {
    slug: String,
    sa_id: String,
}

#[derive(serde::Deserialize)]
pub struct SaKeyPath {
    slug: String,
    sa_id: String,
    id: String,
}

#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct NameInput {
    name: String,
}

fn row(team: &TeamTenant, sa: &ServiceAccount) -> ServiceAccountRow {
    ServiceAccountRow {
        id: sa.account.id.clone(),
        name: sa.account.name.clone(),
        key_count: sa.key_count,
        created: date(sa.account.created_at),
        created_by: sa
            .creator_name
            .clone()
            .unwrap_or_else(|| "an operator".into()),
        url: format!("{}/service-accounts/{}", team.base, sa.account.id),
    }
}

/// `GET /t/{slug}/team/service-accounts`
pub async fn list(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let team = team_of(&signed_in, &slug)?;
    let (actor, tenant_id) = (signed_in.actor(), team.id.clone());
    let accounts = state
        .run(move |conn, _| service_accounts::list_service_accounts(conn, &actor, &tenant_id))
        .await?;
    let accounts = accounts.iter().map(|sa| row(&team, sa)).collect();
    html(
        StatusCode::OK,
        &ServiceAccountsPage {
            layout: Layout::signed_in(&signed_in, "Service Accounts", NAV),
            team,
            accounts,
        },
    )
}

fn create_form(
    signed_in: &SignedIn,
    team: &TeamTenant,
    name: String,
    errors: FieldErrors,
) -> ServiceAccountForm {
    ServiceAccountForm {
        action: format!("{}/service-accounts", team.base),
        cancel_url: format!("{}/service-accounts", team.base),
        csrf_token: signed_in.csrf_token.clone(),
        name,
        errors,
    }
}

fn create_form_response(
    hx: Htmx,
    status: StatusCode,
    signed_in: &SignedIn,
    form: ServiceAccountForm,
) -> Result<HttpResponse, HtmlError> {
    if hx.wants_partial() {
        return html(status, &ServiceAccountFormPartial { form });
    }
    html(
        status,
        &ServiceAccountNewPage {
            layout: Layout::signed_in(signed_in, "Create a service account", NAV),
            form,
        },
    )
}

/// `GET /t/{slug}/team/service-accounts/new`: the create dialog (admins only, as the
/// list is).
pub async fn new_form(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let team = team_of(&signed_in, &slug)?;
    let (actor, tenant_id) = (signed_in.actor(), team.id.clone());
    state
        .run(move |conn, _| {
            service_accounts::list_service_accounts(conn, &actor, &tenant_id).map(drop)
        })
        .await?;
    create_form_response(
        hx,
        StatusCode::OK,
        &signed_in,
        create_form(&signed_in, &team, String::new(), FieldErrors::default()),
    )
}

/// `POST /t/{slug}/team/service-accounts`: creates it and goes to its page.
pub async fn create(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    slug: web::Path<String>,
    input: web::Form<NameInput>,
) -> Result<HttpResponse, HtmlError> {
    let team = team_of(&signed_in, &slug)?;
    let name = match PersonName::parse(&input.name) {
        Ok(name) => name,
        Err(e) => {
            let mut errors = FieldErrors::default();
            errors.add("name", e.message);
            let form = create_form(&signed_in, &team, input.into_inner().name, errors);
            return create_form_response(hx, StatusCode::UNPROCESSABLE_ENTITY, &signed_in, form);
        }
    };
    let (actor, tenant_id) = (signed_in.actor(), team.id.clone());
    let quotas = state.settings.quotas;
    let account = state
        .run(move |conn, now| {
            service_accounts::create_service_account_within(
                conn, &actor, now, &tenant_id, name, &quotas,
            )
        })
        .await?;
    session::set_flash(
        &signed_in.session,
        format!("Created the service account “{}”.", account.name),
    )?;
    Ok(redirect(
        hx,
        &format!("{}/service-accounts/{}", team.base, account.id),
    ))
}

struct Detail {
    team: TeamTenant,
    account: ServiceAccountRow,
    list: KeyListView,
    list_url: String,
}

async fn detail(
    signed_in: &SignedIn,
    state: &AppState,
    slug: &str,
    sa_id: &str,
) -> Result<Detail, HtmlError> {
    detail_for(signed_in, state, slug, sa_id, KeyListQuery::default(), None).await
}

/// The service account and the page of its keys `query` asks for (or only the key
/// `only_key`).
async fn detail_for(
    signed_in: &SignedIn,
    state: &AppState,
    slug: &str,
    sa_id: &str,
    query: KeyListQuery,
    only_key: Option<&str>,
) -> Result<Detail, HtmlError> {
    let team = team_of(signed_in, slug)?;
    let (actor, tenant_id, id) = (signed_in.actor(), team.id.clone(), sa_id.to_string());
    let (mut w, page_request) = query.request(state.clock.now());
    w.key_id = only_key.map(str::to_string);
    let (sa, page, now): (ServiceAccount, KeysetPage, PrimitiveDateTime) = state
        .run(move |conn, now| {
            let sa = service_accounts::get_service_account(conn, &actor, Some(&tenant_id), &id)?;
            let page = key_lists::service_account_keys_page(
                conn,
                &actor,
                Some(&tenant_id),
                &id,
                &w,
                &page_request,
            )?;
            Ok((sa, page, now))
        })
        .await?;
    let account = row(&team, &sa);
    let list_url = format!("{}/api-keys", account.url);
    let keys = KeyRow::list(&page.keys, now)
        .into_iter()
        .map(|k| k.with_delete_base(&list_url))
        .collect();
    let list = KeyListView::new(&list_url, &query, &page, keys);
    Ok(Detail {
        team,
        account,
        list,
        list_url,
    })
}

fn detail_page(
    signed_in: &SignedIn,
    d: Detail,
    rename_errors: FieldErrors,
    rename_name: Option<String>,
    created: Option<CreatedKeyView>,
) -> ServiceAccountPage {
    let rename = ServiceAccountForm {
        action: format!("{}/rename", d.account.url),
        cancel_url: d.account.url.clone(),
        csrf_token: signed_in.csrf_token.clone(),
        name: rename_name.unwrap_or_else(|| d.account.name.clone()),
        errors: rename_errors,
    };
    ServiceAccountPage {
        layout: Layout::signed_in(signed_in, d.account.name.clone(), NAV),
        team: d.team,
        account: d.account,
        rename,
        list: d.list,
        created,
    }
}

/// `GET /t/{slug}/team/service-accounts/{sa_id}`
pub async fn show(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<SaPath>,
    query: web::Query<KeyListQuery>,
) -> Result<HttpResponse, HtmlError> {
    let query = query.into_inner();
    let d = detail_for(&signed_in, &state, &path.slug, &path.sa_id, query, None).await?;
    html(
        StatusCode::OK,
        &detail_page(&signed_in, d, FieldErrors::default(), None, None),
    )
}

/// `POST /t/{slug}/team/service-accounts/{sa_id}/rename`
pub async fn rename(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<SaPath>,
    input: web::Form<NameInput>,
) -> Result<HttpResponse, HtmlError> {
    let name = match PersonName::parse(&input.name) {
        Ok(name) => name,
        Err(e) => {
            let d = detail(&signed_in, &state, &path.slug, &path.sa_id).await?;
            let mut errors = FieldErrors::default();
            errors.add("name", e.message);
            let page = detail_page(&signed_in, d, errors, Some(input.into_inner().name), None);
            return html(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    let team = team_of(&signed_in, &path.slug)?;
    let (actor, tenant_id, id) = (signed_in.actor(), team.id.clone(), path.sa_id.clone());
    let account = state
        .run(move |conn, now| {
            service_accounts::rename_service_account(conn, &actor, now, Some(&tenant_id), &id, name)
        })
        .await?;
    session::set_flash(
        &signed_in.session,
        format!("Renamed the service account to “{}”.", account.name),
    )?;
    Ok(redirect(
        hx,
        &format!("{}/service-accounts/{}", team.base, account.id),
    ))
}

/// `GET /t/{slug}/team/service-accounts/{sa_id}/remove`: the confirmation, which says
/// how many keys will stop working.
pub async fn remove_form(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<SaPath>,
) -> Result<HttpResponse, HtmlError> {
    let d = detail(&signed_in, &state, &path.slug, &path.sa_id).await?;
    let action = format!("{}/remove", d.account.url);
    let csrf_token = signed_in.csrf_token.clone();
    if hx.wants_partial() {
        return html(
            StatusCode::OK,
            &ServiceAccountRemovePartial {
                account: d.account,
                csrf_token,
                action,
            },
        );
    }
    html(
        StatusCode::OK,
        &ServiceAccountRemovePage {
            layout: Layout::signed_in(&signed_in, "Remove a service account", NAV),
            account: d.account,
            csrf_token,
            action,
        },
    )
}

/// `POST /t/{slug}/team/service-accounts/{sa_id}/remove`: its keys stop working at once.
pub async fn remove(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<SaPath>,
) -> Result<HttpResponse, HtmlError> {
    let team = team_of(&signed_in, &path.slug)?;
    let (actor, tenant_id, id) = (signed_in.actor(), team.id.clone(), path.sa_id.clone());
    let removed = state
        .run(move |conn, now| {
            service_accounts::remove_service_account(conn, &actor, now, Some(&tenant_id), &id)
        })
        .await?;
    session::set_flash(
        &signed_in.session,
        format!(
            "Removed the service account “{}”; {} key{} stopped working.",
            removed.account.name,
            removed.key_count,
            if removed.key_count == 1 { "" } else { "s" }
        ),
    )?;
    Ok(redirect(hx, &format!("{}/service-accounts", team.base)))
}

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
    d: &Detail,
    nonce: String,
    input: CreateKeyInput,
    now: PrimitiveDateTime,
    errors: FieldErrors,
) -> CreateKeyForm {
    CreateKeyForm {
        action: d.list_url.clone(),
        cancel_url: d.account.url.clone(),
        csrf_token: signed_in.csrf_token.clone(),
        nonce,
        name: input.name,
        expiration: if input.expiration.is_empty() {
            "30".into()
        } else {
            input.expiration
        },
        expires_on: input.expires_on,
        today: date(now),
        // A service account's keys serve its own tenant only.
        tenants: TenantOption::list(signed_in, Some(&d.team.id))
            .into_iter()
            .filter(|t| t.id == d.team.id)
            .collect(),
        errors,
    }
}

fn key_form_response(
    hx: Htmx,
    status: StatusCode,
    signed_in: &SignedIn,
    form: CreateKeyForm,
) -> Result<HttpResponse, HtmlError> {
    if hx.wants_partial() {
        return html(status, &ApiKeyFormPartial { form });
    }
    html(
        status,
        &ApiKeyNewPage {
            layout: Layout::signed_in(signed_in, "Create an API Key", NAV),
            form,
        },
    )
}

/// `GET …/{sa_id}/api-keys/new`: the create-key dialog, with a one-time nonce.
pub async fn new_key_form(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<SaPath>,
) -> Result<HttpResponse, HtmlError> {
    let d = detail(&signed_in, &state, &path.slug, &path.sa_id).await?;
    let nonce = session::issue_form_nonce(&signed_in.session)?;
    let form = key_form(
        &signed_in,
        &d,
        nonce,
        CreateKeyInput::default(),
        state.clock.now(),
        FieldErrors::default(),
    );
    key_form_response(hx, StatusCode::OK, &signed_in, form)
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
    let d = detail(&signed_in, &state, &path.slug, &path.sa_id).await?;
    // The key serves the tenant of the URL, whatever the form says.
    input.tenant_id = d.team.id.clone();
    let outcome = create_key_from_form(
        &state,
        &signed_in,
        &input,
        &d.account.id,
        FieldErrors::default(),
        &d.account.url,
    )
    .await?;
    let view = match outcome {
        Ok(view) => view,
        Err(errors) => {
            let nonce = input.nonce.clone();
            let form = key_form(&signed_in, &d, nonce, input, state.clock.now(), errors);
            return key_form_response(hx, StatusCode::UNPROCESSABLE_ENTITY, &signed_in, form);
        }
    };
    if hx.wants_partial() {
        return created_key_dialog(view);
    }
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
    let d = detail_for(
        &signed_in,
        &state,
        &path.slug,
        &path.sa_id,
        KeyListQuery::default(),
        Some(&path.id),
    )
    .await?;
    let key = d
        .list
        .keys
        .into_iter()
        .find(|k| k.id == path.id)
        .ok_or_else(|| HtmlError::from(AppError::not_found("API key not found")))?;
    let csrf_token = signed_in.csrf_token.clone();
    if hx.wants_partial() {
        return html(
            StatusCode::OK,
            &ApiKeyDeletePartial {
                key,
                csrf_token,
                back_url: d.account.url,
            },
        );
    }
    html(
        StatusCode::OK,
        &ApiKeyDeletePage {
            layout: Layout::signed_in(&signed_in, "Delete an API key", NAV),
            key,
            csrf_token,
            back_url: d.account.url.clone(),
        },
    )
}

/// `POST …/{sa_id}/api-keys/{id}/delete`: only this service account's key in this tenant.
pub async fn delete_key(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<SaKeyPath>,
) -> Result<HttpResponse, HtmlError> {
    let team = team_of(&signed_in, &path.slug)?;
    let (actor, tenant_id, sa_id, key_id) = (
        signed_in.actor(),
        team.id.clone(),
        path.sa_id.clone(),
        path.id.clone(),
    );
    let key = state
        .run(move |conn, now| {
            let scope = KeyScope {
                tenant_id: &tenant_id,
                account_id: Some(&sa_id),
            };
            api_keys::revoke_api_key_in(conn, &actor, now, &key_id, Some(scope))
        })
        .await?;
    let message = format!("Deleted the API key “{}”.", key.name);
    let back = format!("{}/service-accounts/{}", team.base, path.sa_id);
    if !hx.wants_partial() {
        session::set_flash(&signed_in.session, message)?;
        return Ok(redirect(hx, &back));
    }
    let d = detail(&signed_in, &state, &path.slug, &path.sa_id).await?;
    partial_with_toast(&ApiKeysListPartial { list: d.list }, &message)
}
