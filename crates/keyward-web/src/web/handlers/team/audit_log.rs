//! Team › Audit log: newest first, 50 to a page (keyset), filtered by action, by who did
//! it (name, email or account id) and by a range of days (UTC, both ends included), and
//! searched in the details — a plain GET form, so it works without JavaScript, and every
//! filter is kept in the Newer/Older links.

use super::team_of;
use crate::db::models::team_lists::TeamWhere;
use crate::domain::AccountKind;
use crate::error::{AppError, HtmlError};
use crate::services::audit_export::{self, ExportFormat};
use crate::services::{audit, team_lists};
use crate::web::handlers::list_page::{search_pattern, Links, ListFrame, ListQuery};
use crate::web::htmx::html;
use crate::web::session::SignedIn;
use crate::web::views::{date_time_seconds, AuditLogPage, AuditRow, Layout};
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use time::{Date, Duration, PrimitiveDateTime};

#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct AuditQuery {
    action: String,
    who: String,
    from: String,
    to: String,
    /// The export's format: `csv` or `jsonl`.
    format: String,
    #[serde(flatten)]
    list: ListQuery,
}

/// The list's filters, read from the query: shared by the page and the export.
struct Filters {
    w: TeamWhere,
    action: String,
    who: String,
    from: Option<Date>,
    to: Option<Date>,
}

impl Filters {
    fn of(query: &AuditQuery) -> Result<Self, AppError> {
        let action = query.action.trim().to_string();
        if !action.is_empty() {
            audit::check_action(&action)?;
        }
        let (from, to) = (day("from", &query.from)?, day("to", &query.to)?);
        let (created_after, created_before) = day_range(from, to)?;
        let who = query.who.trim().to_string();
        let w = TeamWhere {
            name_like: search_pattern(&query.list.q),
            name_eq: Some(action.clone()).filter(|a| !a.is_empty()),
            actor: search_pattern(&who).map(|pattern| (who.clone(), pattern)),
            created_after,
            created_before,
            ..TeamWhere::default()
        };
        Ok(Self {
            w,
            action,
            who,
            from,
            to,
        })
    }

    /// The filters as query-string pairs (empty ones included), `q` first.
    fn pairs(&self, q: &str) -> Vec<(&'static str, String)> {
        vec![
            ("q", q.trim().to_string()),
            ("action", self.action.clone()),
            ("who", self.who.clone()),
            ("from", self.from.map(|d| d.to_string()).unwrap_or_default()),
            ("to", self.to.map(|d| d.to_string()).unwrap_or_default()),
        ]
    }
}

/// `2026-11-28` (what `<input type="date">` sends), or nothing.
fn day(field: &'static str, raw: &str) -> Result<Option<Date>, AppError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(raw, format)
        .map(Some)
        .map_err(|_| AppError::invalid(field, "must be a date such as 2026-11-28"))
}

/// The days `from` to `to`, both included, as the open interval the list filters on.
fn day_range(
    from: Option<Date>,
    to: Option<Date>,
) -> Result<(Option<PrimitiveDateTime>, Option<PrimitiveDateTime>), AppError> {
    if let (Some(from), Some(to)) = (from, to) {
        if from > to {
            return Err(AppError::invalid("from", "must not be after the “to” date"));
        }
    }
    // Times are stored to the microsecond, so "after 23:59:59.999999" is "from 00:00".
    let after = from.and_then(|d| d.midnight().checked_sub(Duration::microseconds(1)));
    let before = to.and_then(Date::next_day).map(Date::midnight);
    Ok((after, before))
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
    let filters = Filters::of(&query)?;
    let (action, who, from, to) = (
        filters.action.clone(),
        filters.who.clone(),
        filters.from,
        filters.to,
    );
    let export_query = serde_urlencoded::to_string(
        filters
            .pairs(&query.list.q)
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .collect::<Vec<_>>(),
    )
    .unwrap_or_default();
    let w = filters.w;
    let (actor, tenant_id) = (signed_in.actor(), team.id.clone());
    let page = query.list.page();
    let result = state
        .run(move |conn, now| {
            team_lists::audit_events_keyset(conn, &actor, now, &tenant_id, &w, &page)
        })
        .await?;
    let rows =
        result
            .rows
            .iter()
            .map(|e| AuditRow {
                at: date_time_seconds(e.event.at),
                at_iso: crate::domain::clock::rfc3339(e.event.at),
                actor: match (&e.actor_name, &e.event.actor_id) {
                    (Some(name), _) => name.clone(),
                    (None, Some(id)) => format!("removed account {id}"),
                    (None, None) if e.event.action().by_someone_not_signed_in() => {
                        "someone not signed in".into()
                    }
                    (None, None) => "an operator".into(),
                },
                actor_id: e.event.actor_id.clone(),
                actor_kind: match e.actor_kind {
                    Some(AccountKind::ServiceAccount) => "service account",
                    Some(AccountKind::User) => "person",
                    None if e.event.action().by_someone_not_signed_in() => "anonymous",
                    None if e.event.actor_id.is_none() => "keyward admin",
                    None => "account",
                },
                via_key: e.event.actor_key_id.as_ref().map(|id| {
                    match (&e.key_name, e.key_deleted) {
                        (Some(name), false) => format!("“{name}”"),
                        (Some(name), true) => format!("“{name}” (deleted)"),
                        (None, _) => format!("{id} (deleted)"),
                    }
                }),
                action_label: e.event.action().label(),
                action: e.event.action().as_str().to_string(),
                target: e.event.target_id.clone().unwrap_or_default(),
                detail: e.event.detail.clone(),
                ip: e.event.ip.clone().unwrap_or_else(|| "—".into()),
            })
            .collect();
    let list_url = format!("{}/audit-log", team.base);
    let mut links = Links::searched(&list_url, &query.list.q);
    let filters = [
        ("action", action.clone()),
        ("who", who.clone()),
        ("from", from.map(|d| d.to_string()).unwrap_or_default()),
        ("to", to.map(|d| d.to_string()).unwrap_or_default()),
    ];
    let filtered = filters.iter().any(|(_, v)| !v.is_empty());
    links.kept.extend(filters);
    let frame = ListFrame::new(
        "audit",
        &links,
        &query.list.q,
        "details",
        &result,
        |e| (e.event.at, e.event.id.clone()),
        ("event", "events"),
        filtered,
    );
    html(
        StatusCode::OK,
        &AuditLogPage {
            layout: Layout::signed_in(&signed_in, "Audit log", "team-audit-log"),
            team,
            rows,
            actions: audit::tenant_actions()
                .map(|a| (a.as_str(), a.label()))
                .collect(),
            action,
            who,
            from: from.map(|d| d.to_string()).unwrap_or_default(),
            to: to.map(|d| d.to_string()).unwrap_or_default(),
            export_csv: export_url(&list_url, "csv", &export_query),
            export_jsonl: export_url(&list_url, "jsonl", &export_query),
            frame,
        },
    )
}

fn export_url(list_url: &str, format: &str, filters: &str) -> String {
    let sep = if filters.is_empty() { "" } else { "&" };
    format!("{list_url}/export?format={format}{sep}{filters}")
}

/// `GET /t/{slug}/team/audit-log/export?format=csv|jsonl&…filters`: the events the list's
/// filters select, newest first, streamed a chunk at a time and cut at
/// `audit_export::MAX_ROWS`; admins only, and the export is itself audited.
pub async fn export(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    slug: web::Path<String>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, HtmlError> {
    let team = team_of(&signed_in, &slug)?;
    let query = query.into_inner();
    let format = ExportFormat::parse(&query.format).map_err(AppError::from)?;
    let filters = Filters::of(&query)?;
    let described = serde_urlencoded::to_string(
        filters
            .pairs(&query.list.q)
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .collect::<Vec<_>>(),
    )
    .unwrap_or_default();
    let (actor, tenant_id) = (signed_in.actor(), team.id.clone());
    {
        let (actor, tenant_id) = (actor.clone(), tenant_id.clone());
        state
            .run(move |conn, now| {
                audit_export::begin_export(conn, &actor, now, &tenant_id, format, &described)
            })
            .await?;
    }
    struct Progress {
        cursor: Option<crate::db::models::paging::Cursor>,
        sent: usize,
        first: bool,
        done: bool,
    }
    let start = Progress {
        cursor: None,
        sent: 0,
        first: true,
        done: false,
    };
    let w = filters.w;
    let body = futures_util::stream::unfold(start, move |mut p| {
        let (state, actor, tenant_id, w) =
            (state.clone(), actor.clone(), tenant_id.clone(), w.clone());
        async move {
            if p.done {
                return None;
            }
            let cursor = p.cursor.clone();
            let chunk = state
                .run(move |conn, _| {
                    audit_export::export_chunk(conn, &actor, &tenant_id, &w, cursor)
                })
                .await;
            let entries = match chunk {
                Ok(entries) => entries,
                Err(e) => {
                    // Cut the download rather than let it look complete.
                    tracing::warn!(error = %e, "the audit-log export stopped");
                    p.done = true;
                    return Some((
                        Err(actix_web::error::ErrorInternalServerError("export stopped")),
                        p,
                    ));
                }
            };
            let mut out = String::new();
            if p.first {
                out.push_str(format.header());
                p.first = false;
            }
            let room = audit_export::MAX_ROWS - p.sent;
            for e in entries.iter().take(room) {
                out.push_str(&audit_export::line(format, e));
            }
            p.sent += entries.len().min(room);
            p.cursor = entries.last().map(|e| (e.event.at, e.event.id.clone()));
            if (entries.len() as i64) < audit_export::CHUNK {
                p.done = true;
            } else if p.sent >= audit_export::MAX_ROWS {
                out.push_str(&audit_export::truncated_note(format));
                p.done = true;
            }
            Some((Ok::<_, actix_web::Error>(web::Bytes::from(out)), p))
        }
    });
    let filename = format!("keyward-audit-log-{}.{}", team.slug, format.extension());
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .streaming(body))
}
