//! Team › Service Accounts: the list and the create dialog. An account's own page (its
//! keys, rename, removal) is `service_account_page`.

use super::{team_of, team_with_access};
use crate::db::models::team_lists::TeamWhere;
use crate::domain::{PersonName, Role};
use crate::error::{AppError, HtmlError};
use crate::services::service_accounts::{self, ServiceAccount};
use crate::services::team_lists::{self, TeamList};
use crate::web::handlers::form_answer::FormAnswer;
use crate::web::handlers::list_page::{search_pattern, Links, ListFrame, ListQuery};
use crate::web::htmx::{html, Htmx};
use crate::web::session::SignedIn;
use crate::web::views::{
    date, FieldErrors, Layout, ServiceAccountForm, ServiceAccountFormPartial,
    ServiceAccountNewPage, ServiceAccountRow, ServiceAccountsPage, TeamTenant,
};
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

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
    pub(super) name: String,
    /// Only the create form sends it; ADMIN when left out.
    #[serde(default)]
    role: String,
}

pub(super) fn row(team: &TeamTenant, sa: &ServiceAccount) -> ServiceAccountRow {
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
        role_value: sa.role.map(|r| r.as_str()).unwrap_or(""),
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

/// The create dialog (its own page without JavaScript), with `status`.
fn create_form_answer(
    answer: &FormAnswer<'_>,
    status: StatusCode,
    form: ServiceAccountForm,
) -> Result<HttpResponse, HtmlError> {
    answer.show(
        status,
        "Create a service account",
        form,
        |form| ServiceAccountFormPartial { form },
        |layout, form| ServiceAccountNewPage { layout, form },
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
    let team = team_with_access(&signed_in, &state, &slug, TeamList::ServiceAccounts).await?;
    create_form_answer(
        &FormAnswer::new(hx, &signed_in, NAV),
        StatusCode::OK,
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
    let answer = FormAnswer::new(hx, &signed_in, NAV);
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
        create_form_answer(&answer, StatusCode::UNPROCESSABLE_ENTITY, form)
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
    answer.done_at(
        format!("Created the service account “{}”.", account.name),
        &format!("{}/service-accounts/{}", team.base, account.id),
    )
}
