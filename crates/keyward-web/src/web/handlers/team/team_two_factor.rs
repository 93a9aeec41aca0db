//! Team › Settings › Two-factor authentication: whether the tenant requires two-factor
//! of its members (human admins). Members without it are sent to enrol before any other
//! page of the tenant (`web::session`); API keys are not affected.

use super::team_of;
use crate::error::HtmlError;
use crate::services::two_factor;
use crate::web::handlers::form_answer::FormAnswer;
use crate::web::htmx::Htmx;
use crate::web::session::SignedIn;
use crate::web::AppState;
use actix_web::{web, HttpResponse};

#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct RequirementInput {
    /// A checkbox: present when ticked.
    require_two_factor: String,
}

/// `POST /t/{slug}/team/settings/two-factor`
pub async fn save(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    slug: web::Path<String>,
    input: web::Form<RequirementInput>,
) -> Result<HttpResponse, HtmlError> {
    let team = team_of(&signed_in, &slug)?;
    let answer = FormAnswer::new(hx, &signed_in, "team-settings");
    let required = !input.require_two_factor.is_empty();
    let (actor, tenant_id) = (signed_in.actor(), team.id.clone());
    let required = state
        .run(move |conn, now| {
            two_factor::set_tenant_requirement(conn, &actor, now, &tenant_id, required)
        })
        .await?;
    answer.done_at(
        match required {
            true => "Two-factor authentication is now required of this tenant's members: those without it are asked to turn it on before anything else.".to_string(),
            false => "Two-factor authentication is no longer required of this tenant's members.".to_string(),
        },
        &format!("{}/settings", team.base),
    )
}
