//! Team › Settings › Single sign-on: whether the tenant's members sign in through the
//! OpenID provider only (human admins; `services::oidc::set_tenant_requirement` refuses
//! it while single sign-on is not set up, or while the admin's own account is not linked).

use super::team_of;
use crate::error::HtmlError;
use crate::services::oidc;
use crate::web::handlers::form_answer::FormAnswer;
use crate::web::htmx::Htmx;
use crate::web::session::SignedIn;
use crate::web::AppState;
use actix_web::{web, HttpResponse};

#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct RequirementInput {
    /// A checkbox: present when ticked.
    require_sso: String,
}

/// `POST /t/{slug}/team/settings/single-sign-on`
pub async fn save(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    slug: web::Path<String>,
    input: web::Form<RequirementInput>,
) -> Result<HttpResponse, HtmlError> {
    let team = team_of(&signed_in, &slug)?;
    let answer = FormAnswer::new(hx, &signed_in, "team-settings");
    let required = !input.require_sso.is_empty();
    let (actor, tenant_id) = (signed_in.actor(), team.id.clone());
    let sso = state.sso.as_ref().map(|s| s.settings.clone());
    let required = state
        .run(move |conn, now| {
            oidc::set_tenant_requirement(conn, &actor, now, &tenant_id, required, sso.as_ref())
        })
        .await?;
    answer.done_at(
        match required {
            true => "Single sign-on is now required of this tenant's members: they work in it only after signing in through the provider, and sessions opened with a password lose this tenant on their next page (their other tenants are not affected).".to_string(),
            false => "Single sign-on is no longer required of this tenant's members.".to_string(),
        },
        &format!("{}/settings", team.base),
    )
}
