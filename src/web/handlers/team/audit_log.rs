//! Team › Audit log: newest first, 50 to a page (keyset), filterable by action, searched
//! in the details.

use super::team_of;
use crate::db::models::team_lists::TeamWhere;
use crate::domain::AccountKind;
use crate::error::HtmlError;
use crate::services::{audit, team_lists};
use crate::web::handlers::list_page::{search_pattern, Links, ListFrame, ListQuery};
use crate::web::htmx::html;
use crate::web::session::SignedIn;
use crate::web::views::{date_time_seconds, AuditLogPage, AuditRow, Layout};
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct AuditQuery {
    action: String,
    #[serde(flatten)]
    list: ListQuery,
}

/// `GET /t/{slug}/team/audit-log?page=N&action=…`
pub async fn page(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    slug: web::Path<String>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, HtmlError> {
    let team = team_of(&signed_in, &slug)?;
    let query = query.into_inner();
    let action = query.action.trim().to_string();
    if !action.is_empty() {
        audit::check_action(&action)?;
    }
    let (actor, tenant_id) = (signed_in.actor(), team.id.clone());
    let w = TeamWhere {
        name_like: search_pattern(&query.list.q),
        name_eq: Some(action.clone()).filter(|a| !a.is_empty()),
        ..TeamWhere::default()
    };
    let page = query.list.page();
    let result = state
        .run(move |conn, now| {
            team_lists::audit_events_keyset(conn, &actor, now, &tenant_id, &w, &page)
        })
        .await?;
    let rows = result
        .rows
        .iter()
        .map(|e| AuditRow {
            at: date_time_seconds(e.event.at),
            at_iso: crate::domain::clock::rfc3339(e.event.at),
            actor: match (&e.actor_name, &e.event.actor_id) {
                (Some(name), _) => name.clone(),
                (None, Some(id)) => format!("removed account {id}"),
                (None, None) => "an operator".into(),
            },
            actor_kind: match e.actor_kind {
                Some(AccountKind::ServiceAccount) => "service account",
                Some(AccountKind::User) => "person",
                None if e.event.actor_id.is_none() => "keyward admin",
                None => "account",
            },
            via_key: e.event.actor_key_id.as_ref().map(|id| match &e.key_name {
                Some(name) => format!("“{name}”"),
                None => format!("{id} (deleted)"),
            }),
            action_label: audit::label(&e.event.action),
            action: e.event.action.clone(),
            target: e.event.target_id.clone().unwrap_or_default(),
            detail: e.event.detail.clone(),
            ip: e.event.ip.clone().unwrap_or_else(|| "—".into()),
        })
        .collect();
    let list_url = format!("{}/audit-log", team.base);
    let mut links = Links::searched(&list_url, &query.list.q);
    links.kept.push(("action", action.clone()));
    let frame = ListFrame::new(
        "audit",
        &links,
        &query.list.q,
        "details",
        &result,
        |e| (e.event.at, e.event.id.clone()),
        ("event", "events"),
        !action.is_empty(),
    );
    html(
        StatusCode::OK,
        &AuditLogPage {
            layout: Layout::signed_in(&signed_in, "Audit log", "team-audit-log"),
            team,
            rows,
            actions: audit::tenant_actions()
                .map(|a| (a, audit::label(a)))
                .collect(),
            action,
            frame,
        },
    )
}
