//! User › Notifications (`/user/notifications`): the signed-in person turns each key
//! notice (`services::key_notices`) off or on for themselves.

use crate::error::{AppError, HtmlError};
use crate::services::key_notices::{self, NoticeKind, NotificationSetting};
use crate::web::htmx::{html, redirect, Htmx};
use crate::web::session::{self, SignedIn};
use crate::web::views::{Layout, NotificationRow, NotificationsPage};
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

const PATH: &str = "/user/notifications";
const TITLE: &str = "Notifications";
const NAV: &str = "notifications";

fn page(
    signed_in: &SignedIn,
    state: &AppState,
    settings: Vec<NotificationSetting>,
) -> Result<HttpResponse, HtmlError> {
    html(
        StatusCode::OK,
        &NotificationsPage {
            layout: Layout::signed_in(signed_in, TITLE, NAV),
            rows: settings
                .into_iter()
                .map(|s| NotificationRow {
                    kind: s.kind.as_str(),
                    label: s.kind.label(),
                    on: s.on,
                })
                .collect(),
            mail_on: state.settings.mail.is_some(),
        },
    )
}

/// `GET /user/notifications`.
pub async fn show(
    signed_in: SignedIn,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HtmlError> {
    let actor = signed_in.actor();
    let settings = state
        .run(move |conn, _| key_notices::notification_settings(conn, &actor))
        .await?;
    page(&signed_in, &state, settings)
}

#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct SetNotificationForm {
    kind: String,
    enabled: String,
}

/// `POST /user/notifications`: one notice on or off.
pub async fn set(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    form: web::Form<SetNotificationForm>,
) -> Result<HttpResponse, HtmlError> {
    let form = form.into_inner();
    let kind = NoticeKind::parse(&form.kind).ok_or_else(|| {
        AppError::invalid(
            "kind",
            "is not a notice this page knows (key_created or key_expiring)",
        )
    })?;
    let on = match form.enabled.as_str() {
        "true" => true,
        "false" => false,
        _ => return Err(AppError::invalid("enabled", "must be true or false").into()),
    };
    let actor = signed_in.actor();
    state
        .run(move |conn, now| key_notices::set_notification(conn, &actor, now, kind, on))
        .await?;
    session::set_flash(
        &signed_in.session,
        if on {
            "That notice is on again."
        } else {
            "That notice is off: Keyward will not mail it to you."
        },
    )?;
    Ok(redirect(hx, PATH))
}
