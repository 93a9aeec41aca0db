//! Team › Service Accounts: the list, create, the detail page with its keys (created and
//! revoked like User › API Keys), rename, and removal with the count of keys it ends.

use super::team_of;
use crate::db::models::team_lists::TeamWhere;
use crate::domain::{PersonName, Role};
use crate::error::AppError;
use crate::error::HtmlError;
use crate::services::agents;
use crate::services::key_lists::{self, KeysetPage};
use crate::services::service_accounts::{self, ServiceAccount};
use crate::services::team_lists::{self, TeamList};
use crate::web::handlers::key_list::{KeyListQuery, KeyListView};
use crate::web::handlers::list_page::{search_pattern, Links, ListFrame, ListQuery};
use crate::web::htmx::{html, redirect, Htmx};
use crate::web::session::{self, SignedIn};
use crate::web::views::AgentsView;
use crate::web::views::{
    date, CreatedKeyView, FieldErrors, KeyRow, Layout, ServiceAccountForm,
    ServiceAccountFormPartial, ServiceAccountNewPage, ServiceAccountPage, ServiceAccountRemovePage,
    ServiceAccountRemovePartial, ServiceAccountRow, ServiceAccountsPage, TeamTenant,
};
use crate::web::AppState;

/// How many of its agents a service account's page lists (most recently seen first).
const AGENTS_SHOWN: i64 = 50;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use time::PrimitiveDateTime;

const NAV: &str = "team-service-accounts";

#[derive(serde::Deserialize)]
pub struct SaPath {
    pub(super) slug: String,
    pub(super) sa_id: String,
}

#[derive(serde::Deserialize)]
pub struct SaKeyPath {
    pub(super) slug: String,
    pub(super) sa_id: String,
    pub(super) id: String,
}

#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct NameInput {
    name: String,
    /// Only the create form sends it; ADMIN when left out.
    #[serde(default)]
    role: String,
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
        role: sa.role.map(|r| r.label()).unwrap_or("no role"),
    }
}

/// `GET /t/{slug}/team/service-accounts?q=…&older=…|newer=…`: 50 a page, newest first.
pub async fn list(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    slug: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, HtmlError> {
    let team = team_of(&signed_in, &slug)?;
    let query = query.into_inner();
    let (actor, tenant_id) = (signed_in.actor(), team.id.clone());
    let w = TeamWhere {
        name_like: search_pattern(&query.q),
        ..TeamWhere::default()
    };
    let page = query.page();
    let found = state
        .run(move |conn, now| {
            team_lists::service_accounts_keyset(conn, &actor, now, &tenant_id, &w, &page)
        })
        .await?;
    let list_url = format!("{}/service-accounts", team.base);
    let frame = ListFrame::new(
        "service-accounts",
        &Links::searched(&list_url, &query.q),
        &query.q,
        "names",
        &found,
        |sa| (sa.account.created_at, sa.account.id.clone()),
        ("service account", "service accounts"),
        false,
    );
    let accounts = found.rows.iter().map(|sa| row(&team, sa)).collect();
    html(
        StatusCode::OK,
        &ServiceAccountsPage {
            layout: Layout::signed_in(&signed_in, "Service Accounts", NAV),
            team,
            accounts,
            frame,
        },
    )
}

fn create_form(
    signed_in: &SignedIn,
    team: &TeamTenant,
    name: String,
    role: Role,
    errors: FieldErrors,
) -> ServiceAccountForm {
    ServiceAccountForm {
        action: format!("{}/service-accounts", team.base),
        cancel_url: format!("{}/service-accounts", team.base),
        csrf_token: signed_in.csrf_token.clone(),
        name,
        role: Some(role),
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
        .run(move |conn, now| {
            let w = TeamWhere::default();
            team_lists::count(conn, &actor, now, TeamList::ServiceAccounts, &tenant_id, &w)
                .map(drop)
        })
        .await?;
    create_form_response(
        hx,
        StatusCode::OK,
        &signed_in,
        create_form(
            &signed_in,
            &team,
            String::new(),
            Role::Admin,
            FieldErrors::default(),
        ),
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
    let input = input.into_inner();
    let role = if input.role.trim().is_empty() {
        Ok(Role::Admin)
    } else {
        Role::parse(&input.role)
    };
    let parsed = PersonName::parse(&input.name).and_then(|name| Ok((name, role.clone()?)));
    let refuse = |e: crate::domain::InvalidInput| {
        let mut errors = FieldErrors::default();
        errors.add(if e.field == "role" { "role" } else { "name" }, e.message);
        let form = create_form(
            &signed_in,
            &team,
            input.name.clone(),
            role.clone().unwrap_or(Role::Admin),
            errors,
        );
        create_form_response(hx, StatusCode::UNPROCESSABLE_ENTITY, &signed_in, form)
    };
    let (name, role) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => return refuse(e),
    };
    let (actor, tenant_id) = (signed_in.actor(), team.id.clone());
    let quotas = state.settings.quotas;
    let created = state
        .run(move |conn, now| {
            service_accounts::create_service_account_within(
                conn, &actor, now, &tenant_id, name, role, &quotas,
            )
        })
        .await;
    let account = match created {
        Ok(account) => account,
        // A taken name: say so beside the field.
        Err(AppError::Invalid(e)) => return refuse(e),
        Err(e) => return Err(e.into()),
    };
    session::set_flash(
        &signed_in.session,
        format!("Created the service account “{}”.", account.name),
    )?;
    Ok(redirect(
        hx,
        &format!("{}/service-accounts/{}", team.base, account.id),
    ))
}

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
    let (actor, tenant_id, id) = (signed_in.actor(), team.id.clone(), sa_id.to_string());
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
    ServiceAccountPage {
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
