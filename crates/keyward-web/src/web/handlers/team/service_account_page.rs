//! A service account's own page: its keys (created and revoked like User › API Keys, in
//! `service_account_keys`), its agents, rename, and removal with the count of keys it ends.

use super::members::RoleInput;
use super::service_accounts::{row, NameInput, SaPath};
use super::team_of;
use crate::domain::{AccountId, PersonName, Role};
use crate::error::{AppError, HtmlError};
use crate::services::agents;
use crate::services::key_lists::{self, KeysetPage};
use crate::services::members;
use crate::services::service_accounts::{self, ServiceAccount};
use crate::web::handlers::form_answer::FormAnswer;
use crate::web::handlers::key_list::{KeyListQuery, KeyListView};
use crate::web::htmx::{html, Htmx};
use crate::web::session::SignedIn;
use crate::web::views::{
    AgentsView, CreatedKeyView, FieldErrors, KeyRow, Layout, ServiceAccountForm,
    ServiceAccountPage, ServiceAccountRemovePage, ServiceAccountRemovePartial, ServiceAccountRow,
    TeamTenant,
};
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use time::PrimitiveDateTime;

/// How many of its agents a service account's page lists (most recently seen first).
const AGENTS_SHOWN: i64 = 50;

const NAV: &str = "team-service-accounts";

pub(super) struct Detail {
    pub(super) team: TeamTenant,
    pub(super) account: ServiceAccountRow,
    pub(super) list: KeyListView,
    pub(super) list_url: String,
    pub(super) agents: AgentsView,
}

pub(super) async fn detail(
    signed_in: &SignedIn,
    state: &AppState,
    slug: &str,
    sa_id: &str,
) -> Result<Detail, HtmlError> {
    detail_for(signed_in, state, slug, sa_id, KeyListQuery::default(), None).await
}

/// The service account and the page of its keys `query` asks for (or only the key
/// `only_key`).
pub(super) async fn detail_for(
    signed_in: &SignedIn,
    state: &AppState,
    slug: &str,
    sa_id: &str,
    query: KeyListQuery,
    only_key: Option<&str>,
) -> Result<Detail, HtmlError> {
    let team = team_of(signed_in, slug)?;
    let id = AccountId::parse_as("sa_id", sa_id).map_err(AppError::from)?;
    let (actor, tenant_id) = (signed_in.actor(), team.id.clone());
    let (mut w, page_request) = query.request(state.clock.now());
    w.key_id = only_key.map(str::to_string);
    let (sa, page, agents, now): (ServiceAccount, KeysetPage, _, PrimitiveDateTime) = state
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
            let agents = agents::agents_of_service_account(
                conn,
                &actor,
                Some(&tenant_id),
                &id,
                AGENTS_SHOWN,
            )?;
            Ok((sa, page, agents, now))
        })
        .await?;
    let account = row(&team, &sa);
    let list_url = format!("{}/api-keys", account.url);
    let keys = KeyRow::list_with_clients(&page, now)
        .into_iter()
        .map(|k| k.with_delete_base(&list_url))
        .collect();
    let mut list = KeyListView::new(&list_url, &query, &page, keys);
    list.for_service_account = true;
    Ok(Detail {
        team,
        account,
        list,
        list_url,
        agents: AgentsView::of(&agents, now),
    })
}

pub(super) fn detail_page(
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
        role: None,
        errors: rename_errors,
    };
    let is_admin = signed_in
        .person
        .tenants
        .iter()
        .any(|m| m.tenant.id == d.team.id && m.role.is_admin());
    ServiceAccountPage {
        role_action: is_admin.then(|| format!("{}/role", d.account.url)),
        layout: Layout::signed_in(signed_in, d.account.name.clone(), NAV),
        team: d.team,
        account: d.account,
        rename,
        list: d.list,
        created,
        agents: d.agents,
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
    let answer = FormAnswer::new(hx, &signed_in, NAV);
    let name = match PersonName::parse(&input.name) {
        Ok(name) => name,
        Err(e) => {
            let d = detail(&signed_in, &state, &path.slug, &path.sa_id).await?;
            let mut errors = FieldErrors::default();
            errors.add("name", e.message);
            let typed = Some(input.into_inner().name);
            return answer.invalid_page(&detail_page(&signed_in, d, errors, typed, None));
        }
    };
    let team = team_of(&signed_in, &path.slug)?;
    let id = AccountId::parse_as("sa_id", &path.sa_id).map_err(AppError::from)?;
    let (actor, tenant_id) = (signed_in.actor(), team.id.clone());
    let account = state
        .run(move |conn, now| {
            service_accounts::rename_service_account(conn, &actor, now, Some(&tenant_id), &id, name)
        })
        .await?;
    answer.done_at(
        format!("Renamed the service account to “{}”.", account.name),
        &format!("{}/service-accounts/{}", team.base, account.id),
    )
}

/// `POST /t/{slug}/team/service-accounts/{sa_id}/role`: the role its keys act with,
/// changed by the same service (rules, audit) as Team › Members' role selector.
pub async fn change_role(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<SaPath>,
    input: web::Form<RoleInput>,
) -> Result<HttpResponse, HtmlError> {
    let team = team_of(&signed_in, &path.slug)?;
    let role = Role::parse(&input.role).map_err(AppError::from)?;
    let account_id = AccountId::parse_as("sa_id", &path.sa_id).map_err(AppError::from)?;
    let (actor, tenant_id) = (signed_in.actor(), team.tenant_id());
    let member = state
        .run(move |conn, now| {
            // Only a service account of this tenant is changed here.
            service_accounts::get_service_account(conn, &actor, Some(&tenant_id), &account_id)?;
            members::change_role(conn, &actor, now, &tenant_id, &account_id, role)
        })
        .await?;
    FormAnswer::new(hx, &signed_in, NAV).done_at(
        format!(
            "“{}” now has the role {}: its keys act with it from their next request.",
            member.account.name,
            role.label()
        ),
        &format!("{}/service-accounts/{}", team.base, member.account.id),
    )
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
    let dialog = ServiceAccountRemovePartial {
        action: format!("{}/remove", d.account.url),
        account: d.account,
        csrf_token: signed_in.csrf_token.clone(),
    };
    FormAnswer::new(hx, &signed_in, NAV).show(
        StatusCode::OK,
        "Remove a service account",
        dialog,
        |dialog| dialog,
        |layout, d| ServiceAccountRemovePage {
            layout,
            account: d.account,
            csrf_token: d.csrf_token,
            action: d.action,
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
    let id = AccountId::parse_as("sa_id", &path.sa_id).map_err(AppError::from)?;
    let (actor, tenant_id) = (signed_in.actor(), team.id.clone());
    let removed = state
        .run(move |conn, now| {
            service_accounts::remove_service_account(conn, &actor, now, Some(&tenant_id), &id)
        })
        .await?;
    FormAnswer::new(hx, &signed_in, NAV).done_at(
        format!(
            "Removed the service account “{}”; {} key{} stopped working.",
            removed.account.name,
            removed.key_count,
            if removed.key_count == 1 { "" } else { "s" }
        ),
        &format!("{}/service-accounts", team.base),
    )
}
