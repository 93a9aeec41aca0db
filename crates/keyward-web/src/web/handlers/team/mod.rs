//! Team pages (`/t/{slug}/team/…`): service accounts, members and invitations, the audit
//! log. Each acts only on the tenant named in its URL — never on the session's current
//! tenant — and every decision is the services' (a non-admin gets their 403).

pub mod audit_log;
pub mod invitations;
pub mod join;
pub mod members;
pub mod security;
pub mod service_account_key_allowed_ips;
pub mod service_account_key_rotation;
pub mod service_account_keys;
pub mod service_account_page;
pub mod service_accounts;
pub mod settings;
pub mod team_sso;
pub mod team_two_factor;
pub mod webhooks;

use crate::error::{AppError, HtmlError};
use crate::services::team_lists::{self, TeamList};
use crate::web::htmx::{redirect, Htmx};
use crate::web::session::SignedIn;
use crate::web::views::TeamTenant;
use crate::web::AppState;
use actix_web::{web, HttpRequest, HttpResponse};

/// The tenant of a team URL, among the signed-in person's memberships. Someone outside
/// it learns nothing about whether it exists.
pub(crate) fn team_of(signed_in: &SignedIn, slug: &str) -> Result<TeamTenant, HtmlError> {
    signed_in
        .person
        .tenants
        .iter()
        .find(|m| m.tenant.slug == slug)
        .map(|m| TeamTenant {
            id: m.tenant.tenant_id(),
            name: m.tenant.name.clone(),
            slug: m.tenant.slug.clone(),
            base: format!("/t/{}/team", m.tenant.slug),
        })
        .ok_or_else(|| AppError::forbidden("you are not a member of this tenant").into())
}

/// The tenant of a team URL, for a dialog opened from `list`: refused as the list is.
pub(crate) async fn team_with_access(
    signed_in: &SignedIn,
    state: &AppState,
    slug: &str,
    list: TeamList,
) -> Result<TeamTenant, HtmlError> {
    let team = team_of(signed_in, slug)?;
    let (actor, tenant_id) = (signed_in.actor(), team.id.clone());
    state
        .run(move |conn, _| team_lists::require_access(conn, &actor, list, &tenant_id))
        .await?;
    Ok(team)
}

/// The page `/team`, `/t/{slug}` and `/t/{slug}/team` lead to: the first of the Team menu.
const TEAM_HOME: &str = "service-accounts";

/// `/team/{page}`: the same page of the current tenant, with the same query string (a
/// shared `/team/audit-log?action=…` link keeps its filters).
pub async fn current(
    hx: Htmx,
    req: HttpRequest,
    signed_in: SignedIn,
    page: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let page = page.into_inner();
    if !matches!(
        page.as_str(),
        "service-accounts" | "members" | "audit-log" | "settings" | "security" | "webhooks"
    ) {
        return Err(AppError::not_found("no such team page").into());
    }
    let Some(current) = signed_in.current_tenant() else {
        return Err(AppError::forbidden("you are not a member of any tenant").into());
    };
    let mut to = format!("/t/{}/team/{page}", current.tenant.slug);
    if !req.query_string().is_empty() {
        to.push('?');
        to.push_str(req.query_string());
    }
    Ok(redirect(hx, &to))
}

/// `/team`: the current tenant's team pages.
pub async fn current_home(hx: Htmx, signed_in: SignedIn) -> Result<HttpResponse, HtmlError> {
    let Some(current) = signed_in.current_tenant() else {
        return Err(AppError::forbidden("you are not a member of any tenant").into());
    };
    Ok(redirect(
        hx,
        &format!("/t/{}/team/{TEAM_HOME}", current.tenant.slug),
    ))
}

/// `/t/{slug}` and `/t/{slug}/team`: that tenant's team pages, for its members.
pub async fn home(
    hx: Htmx,
    signed_in: SignedIn,
    slug: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let team = team_of(&signed_in, &slug)?;
    Ok(redirect(hx, &format!("{}/{TEAM_HOME}", team.base)))
}
