//! Team › Security (issue 29): an admin of the tenant pastes a key found where others can
//! read it; it is revoked if it serves this tenant (`services::key_leaks`). Another
//! tenant's key, an unknown one and one revoked already get the same answer, and change
//! nothing. The pasted value is never shown again: the form is drawn empty, the answer
//! names the key by its name and display hint, and only its format error (a property of
//! the value alone, no lookup) is told beside the field.

use super::team_of;
use crate::domain::{LeakSource, PlainToken};
use crate::error::HtmlError;
use crate::services::key_leaks::{self, Finding};
use crate::web::handlers::form_answer::FormAnswer;
use crate::web::htmx::{html, Htmx};
use crate::web::session::SignedIn;
use crate::web::views::{FieldErrors, Layout, TeamSecurityPage};
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

const NAV: &str = "team-security";

/// What the form sends. No `Debug`: it holds a key's value.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct FoundKeyInput {
    token: String,
    location: String,
}

/// The answer when nothing of this tenant matched, whatever the reason.
pub const NOTHING_REVOKED: &str = "No key of this team has that value, so nothing was revoked. (Unknown keys, keys revoked already and other teams' keys are all answered this way.)";

/// `GET /t/{slug}/team/security`: admins only.
pub async fn show(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let team = team_of(&signed_in, &slug)?;
    let (actor, tenant_id) = (signed_in.actor(), team.id.clone());
    state
        .run(move |conn, _| key_leaks::check_access(conn, &actor, &tenant_id))
        .await?;
    html(
        StatusCode::OK,
        &TeamSecurityPage {
            layout: Layout::signed_in(&signed_in, "Security", NAV),
            team,
            errors: FieldErrors::default(),
        },
    )
}

/// `POST /t/{slug}/team/security/revoke-key`
pub async fn revoke_found_key(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    slug: web::Path<String>,
    input: web::Form<FoundKeyInput>,
) -> Result<HttpResponse, HtmlError> {
    let team = team_of(&signed_in, &slug)?;
    let answer = FormAnswer::new(hx, &signed_in, NAV);
    let FoundKeyInput { token, location } = input.into_inner();
    let (actor, tenant_id) = (signed_in.actor(), team.id.clone());
    if let Err(e) = PlainToken::parse(token.trim()) {
        // Only a non-admin learns nothing: the permission is asked first.
        state
            .run(move |conn, _| key_leaks::check_access(conn, &actor, &tenant_id))
            .await?;
        let mut errors = FieldErrors::default();
        errors.add(
            "token",
            format!("this is not a Keyward API key ({e}); paste the whole key, kwu_… or kws_…"),
        );
        return answer.invalid_page(&TeamSecurityPage {
            layout: answer.layout("Security"),
            team,
            errors,
        });
    }
    let finding = Finding::new(&token, Some(&location), LeakSource::Dashboard);
    drop((token, location));
    let revoked = state
        .run(move |conn, now| {
            key_leaks::revoke_found_key(conn, &actor, now, &finding, Some(&tenant_id))
        })
        .await?;
    let message = match revoked {
        Some(leak) => format!(
            "Revoked the key “{}” ({}) of {}{}; {}.",
            leak.key_name,
            leak.display_hint,
            if leak.service_account {
                "the service account "
            } else {
                ""
            },
            leak.owner_name,
            match (leak.service_account, leak.mailed, leak.mails_held_back) {
                (_, 0, 0) => "nobody else needed to be mailed about it".to_string(),
                (_, 0, _) => "nobody was mailed about it: they were mailed about a leaked key of this team within the hour (the audit log lists every one)".to_string(),
                (false, _, _) => "its owner is being mailed".to_string(),
                (true, n, _) => format!("{n} admin(s) of this team are being mailed"),
            }
        ),
        None => NOTHING_REVOKED.to_string(),
    };
    answer.done_at(message, &format!("{}/security", team.base))
}
