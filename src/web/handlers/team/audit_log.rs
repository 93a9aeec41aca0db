//! Team › Audit log: newest first, 50 to a page, filterable by action.

use super::team_of;
use crate::domain::AccountKind;
use crate::error::HtmlError;
use crate::services::audit;
use crate::web::htmx::html;
use crate::web::session::SignedIn;
use crate::web::views::{date_time_seconds, AuditLogPage, AuditRow, Layout};
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

pub const PER_PAGE: i64 = 50;

#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct AuditQuery {
    page: Option<String>,
    action: String,
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
    let page = match query.page.as_deref().map(str::trim) {
        None | Some("") => 1,
        Some(p) => p.parse::<i64>().map_err(|_| {
            crate::error::AppError::invalid("page", "must be a whole number, 1 or more")
        })?,
    };
    let action = query.action.trim().to_string();
    let (actor, tenant_id, filter) = (signed_in.actor(), team.id.clone(), action.clone());
    let result = state
        .run(move |conn, _| {
            let filter = Some(filter.as_str()).filter(|a| !a.is_empty());
            audit::list_audit_events(conn, &actor, &tenant_id, filter, page, PER_PAGE)
        })
        .await?;
    let rows = result
        .events
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
    let link = |p: i64| {
        let mut url = format!("{}/audit-log?page={p}", team.base);
        if !action.is_empty() {
            url.push_str("&action=");
            url.push_str(&action);
        }
        url
    };
    let pages = result.pages();
    html(
        StatusCode::OK,
        &AuditLogPage {
            layout: Layout::signed_in(&signed_in, "Audit log", "team-audit-log"),
            prev_url: (page > 1).then(|| link(page - 1)),
            next_url: (page < pages).then(|| link(page + 1)),
            team,
            rows,
            actions: audit::tenant_actions()
                .map(|a| (a, audit::label(a)))
                .collect(),
            action,
            page,
            pages,
            total: result.total,
        },
    )
}
