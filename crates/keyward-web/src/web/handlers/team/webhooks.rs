//! Team › Webhooks (`/t/{slug}/team/webhooks`, admins): the tenant's webhooks with their
//! delivery log (status and duration of each attempt, "Redeliver"), a form that registers
//! one (its secret shown on the answer, once), delete, rotate the secret, enable again.
//! The same services as GraphQL's `create_webhook` and the rest.

use super::team_of;
use crate::db::DbConnection;
use crate::error::{AppError, HtmlError};
use crate::services::webhooks::{self, Webhook, WebhookEvent, WebhookRef};
use crate::services::Actor;
use crate::web::handlers::form_answer::FormAnswer;
use crate::web::htmx::{html, Htmx};
use crate::web::session::SignedIn;
use crate::web::views::{
    date_time, AttemptRow, DeliveryRow, Layout, TeamTenant, TeamWebhooksPage, WebhookRow,
};
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use time::PrimitiveDateTime;

const NAV: &str = "team-webhooks";
const TITLE: &str = "Webhooks";

fn rows(list: Vec<Webhook>) -> Vec<WebhookRow> {
    list.into_iter()
        .map(|w| WebhookRow {
            events: w.endpoint.event_names().join(", "),
            id: w.endpoint.id,
            url: w.endpoint.url,
            enabled: w.endpoint.enabled,
            disabled_reason: w.endpoint.disabled_reason,
            deliveries: w
                .deliveries
                .into_iter()
                .map(|d| DeliveryRow {
                    id: d.message.id,
                    event: d.message.event,
                    created: date_time(d.message.created_at),
                    attempts: d
                        .attempts
                        .into_iter()
                        .map(|a| AttemptRow {
                            at: date_time(a.attempted_at),
                            status: a
                                .status_code
                                .map_or_else(|| "no answer".to_string(), |s| s.to_string()),
                            duration_ms: a.duration_ms,
                            error: a.error.unwrap_or_default(),
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect()
}

async fn page(
    state: &AppState,
    signed_in: &SignedIn,
    team: TeamTenant,
    status: StatusCode,
    secret: Option<(String, String)>,
    error: Option<String>,
) -> Result<HttpResponse, HtmlError> {
    let (actor, tenant_id) = (signed_in.actor(), team.id.clone());
    let list = state
        .run(move |conn, _| webhooks::list_webhooks(conn, &actor, &tenant_id))
        .await?;
    html(
        status,
        &TeamWebhooksPage {
            layout: Layout::signed_in(signed_in, TITLE, NAV),
            base: format!("{}/webhooks", team.base),
            team,
            webhooks: rows(list),
            events: WebhookEvent::ALL.iter().map(|e| e.as_str()).collect(),
            secret,
            error,
            max: webhooks::MAX_PER_TENANT,
        },
    )
}

/// `GET /t/{slug}/team/webhooks`
pub async fn show(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let team = team_of(&signed_in, &slug)?;
    page(&state, &signed_in, team, StatusCode::OK, None, None).await
}

/// `POST /t/{slug}/team/webhooks`: `url` and one `events` field per event ticked. The
/// answer is the page with the new secret, shown this once.
pub async fn create(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    slug: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, HtmlError> {
    let team = team_of(&signed_in, &slug)?;
    let fields = form.into_inner();
    let url = fields
        .iter()
        .find(|(k, _)| k == "url")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let events: Vec<String> = fields
        .into_iter()
        .filter(|(k, _)| k == "events")
        .map(|(_, v)| v)
        .collect();
    let (actor, tenant_id, keys) = (
        signed_in.actor(),
        team.id.clone(),
        state.sealing_keys.clone(),
    );
    let created = state
        .run(move |conn, now| {
            webhooks::create_webhook(conn, &actor, now, &keys, &tenant_id, &url, &events)
        })
        .await;
    match created {
        Ok(c) => {
            let shown = (c.endpoint.url.clone(), c.secret.expose().to_string());
            page(&state, &signed_in, team, StatusCode::OK, Some(shown), None).await
        }
        Err(e @ (AppError::Invalid(_) | AppError::Conflict(_))) => {
            let message = match &e {
                AppError::Invalid(i) => format!("{}: {}", i.field, i.message),
                other => other.to_string(),
            };
            page(
                &state,
                &signed_in,
                team,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(message),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /t/{slug}/team/webhooks/{id}/rotate`: the page with the new secret, once.
pub async fn rotate(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, HtmlError> {
    let (slug, id) = path.into_inner();
    let team = team_of(&signed_in, &slug)?;
    let (actor, keys, tenant_id) = (
        signed_in.actor(),
        state.sealing_keys.clone(),
        team.id.clone(),
    );
    let rotated = state
        .run(move |conn, now| {
            webhooks::require_manager(conn, &actor, &tenant_id)?;
            webhooks::rotate_webhook_secret(
                conn,
                &actor,
                now,
                &keys,
                WebhookRef::in_tenant(&id, &tenant_id),
            )
        })
        .await?;
    let shown = (
        rotated.endpoint.url.clone(),
        rotated.secret.expose().to_string(),
    );
    page(&state, &signed_in, team, StatusCode::OK, Some(shown), None).await
}

/// `POST /t/{slug}/team/webhooks/{id}/delete`
pub async fn delete(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, HtmlError> {
    act_on(
        (hx, signed_in, state, path),
        "Deleted the webhook.",
        webhooks::delete_webhook,
    )
    .await
}

/// `POST /t/{slug}/team/webhooks/{id}/enable`: a webhook Keyward disabled, on again.
pub async fn enable(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, HtmlError> {
    let keys = state.sealing_keys.clone();
    act_on(
        (hx, signed_in, state, path),
        "The webhook is on again.",
        move |conn, actor, now, target| {
            let on = Some(true);
            webhooks::update_webhook(conn, actor, now, &keys, target, None, None, on).map(drop)
        },
    )
    .await
}

/// `POST /t/{slug}/team/webhooks/deliveries/{id}/redeliver`: the same `webhook-id` again.
pub async fn redeliver(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, HtmlError> {
    act_on(
        (hx, signed_in, state, path),
        "The delivery is queued again, with the same webhook-id.",
        |conn, actor, now, target| webhooks::redeliver(conn, actor, now, target).map(drop),
    )
    .await
}

/// What a form post about one webhook brings: `/t/{slug}/team/webhooks/…/{id}/…`.
type Post = (
    Htmx,
    SignedIn,
    web::Data<AppState>,
    web::Path<(String, String)>,
);

/// A form post about one webhook (or delivery) `{id}` of the team's: `act` runs for an
/// admin who manages webhooks, then the Webhooks page answers with `done`.
async fn act_on(
    (hx, signed_in, state, path): Post,
    done: &str,
    act: impl FnOnce(&mut DbConnection, &Actor, PrimitiveDateTime, WebhookRef) -> Result<(), AppError>
        + Send
        + 'static,
) -> Result<HttpResponse, HtmlError> {
    let (slug, id) = path.into_inner();
    let team = team_of(&signed_in, &slug)?;
    let (actor, tenant_id) = (signed_in.actor(), team.id.clone());
    state
        .run(move |conn, now| {
            webhooks::require_manager(conn, &actor, &tenant_id)?;
            act(conn, &actor, now, WebhookRef::in_tenant(&id, &tenant_id))
        })
        .await?;
    FormAnswer::new(hx, &signed_in, NAV).done_at(done, &format!("{}/webhooks", team.base))
}
