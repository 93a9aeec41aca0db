//! Team › Settings: the tenant's API key policy (admins), the keys beyond it, and the
//! state of the tenant's outgoing mail (what waits, the last failure and why).

use super::team_of;
use crate::domain::{InvalidInput, KeyPolicy, TenantId};
use crate::error::{AppError, HtmlError};
use crate::services::key_policy::{self, PolicyReport};
use crate::services::mail::MailLinks;
use crate::services::{oidc, outbox, two_factor};
use crate::web::handlers::form_answer::FormAnswer;
use crate::web::htmx::{html, Htmx};
use crate::web::session::SignedIn;
use crate::web::views::{
    date_time, relative, FieldErrors, KeyBeyondRow, Layout, MailFailureView, MailStateView,
    TeamSettingsPage, TeamTenant,
};
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

const NAV: &str = "team-settings";

#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct PolicyInput {
    max_key_lifetime_days: String,
    /// A checkbox: present when ticked.
    require_expiry: String,
}

impl PolicyInput {
    fn parse(&self) -> Result<KeyPolicy, InvalidInput> {
        let days = match self.max_key_lifetime_days.trim() {
            "" => None,
            raw => Some(raw.parse::<i32>().map_err(|_| {
                InvalidInput::new(
                    "max_key_lifetime_days",
                    "must be a whole number of days, or empty for no limit",
                )
            })?),
        };
        KeyPolicy::new(days, !self.require_expiry.is_empty())
    }
}

/// What Team › Settings shows, read together.
pub(super) struct Report {
    policy: PolicyReport,
    mail: MailStateView,
    two_factor_required: bool,
    sso_required: bool,
    sso_provider: Option<String>,
    sso_session_hours: i64,
}

fn page(
    signed_in: &SignedIn,
    team: TeamTenant,
    Report {
        policy: report,
        mail,
        two_factor_required,
        sso_required,
        sso_provider,
        sso_session_hours,
    }: Report,
    typed: Option<PolicyInput>,
    errors: FieldErrors,
) -> TeamSettingsPage {
    let policy = report.policy;
    let (days, require) = match typed {
        Some(t) => (t.max_key_lifetime_days, !t.require_expiry.is_empty()),
        None => (
            policy
                .max_key_lifetime_days()
                .map(|d| d.to_string())
                .unwrap_or_default(),
            policy.require_expiry(),
        ),
    };
    TeamSettingsPage {
        layout: Layout::signed_in(signed_in, "Settings", NAV),
        team,
        max_key_lifetime_days: days,
        require_expiry: require,
        summary: policy.describe(),
        keys_beyond: report
            .keys_beyond
            .into_iter()
            .map(|k| KeyBeyondRow {
                id: k.key.id,
                name: k.key.name,
                owner: k.owner_name,
                expires: k.key.expires_at.map_or("Never".into(), date_time),
            })
            .collect(),
        mail,
        two_factor_required,
        sso_required,
        sso_provider,
        sso_session_hours,
        errors,
    }
}

/// The key policy's report, the mail section and the two-factor and single sign-on
/// requirements, read together.
async fn report(
    state: &AppState,
    signed_in: &SignedIn,
    tenant_id: &TenantId,
) -> Result<Report, AppError> {
    let (actor, tenant_id) = (signed_in.actor(), tenant_id.clone());
    let off = MailLinks::of(&state.settings).why_not();
    let (report, outbox, now, two_factor_required, sso_required) = state
        .run(move |conn, now| {
            Ok((
                key_policy::policy_report(conn, &actor, now, &tenant_id)?,
                outbox::tenant_outbox(conn, &actor, &tenant_id)?,
                now,
                two_factor::tenant_requirement(conn, &actor, &tenant_id)?,
                oidc::tenant_requirement(conn, &actor, &tenant_id)?,
            ))
        })
        .await?;
    let mail = MailStateView {
        off,
        pending: outbox.pending,
        given_up: outbox.given_up,
        last_failure: outbox.last_failure.map(|f| MailFailureView {
            at: format!("{} ({})", date_time(f.at), relative(f.at, now)),
            recipient: f.recipient,
            reason: f.reason,
            next: match f.retry_at {
                Some(at) => format!("it will be tried again {}", relative(at, now)),
                None => "it was given up".into(),
            },
        }),
        last_sent: outbox
            .last_sent_at
            .map(|at| format!("{} ({})", date_time(at), relative(at, now))),
    };
    Ok(Report {
        policy: report,
        mail,
        two_factor_required,
        sso_required,
        sso_provider: state.sso.as_ref().map(|s| s.settings.display_name.clone()),
        sso_session_hours: state.sso.as_ref().map_or(0, |s| s.settings.session_hours),
    })
}

/// `GET /t/{slug}/team/settings`
pub async fn show(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let team = team_of(&signed_in, &slug)?;
    let report = report(&state, &signed_in, &team.id).await?;
    html(
        StatusCode::OK,
        &page(&signed_in, team, report, None, FieldErrors::default()),
    )
}

/// `POST /t/{slug}/team/settings`: saves the policy and comes back to the page.
pub async fn save(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    slug: web::Path<String>,
    input: web::Form<PolicyInput>,
) -> Result<HttpResponse, HtmlError> {
    let team = team_of(&signed_in, &slug)?;
    let answer = FormAnswer::new(hx, &signed_in, NAV);
    let input = input.into_inner();
    let policy = match input.parse() {
        Ok(policy) => policy,
        Err(e) => {
            let report = report(&state, &signed_in, &team.id).await?;
            let mut errors = FieldErrors::default();
            errors.add("max_key_lifetime_days", e.message);
            return answer.invalid_page(&page(&signed_in, team, report, Some(input), errors));
        }
    };
    let (actor, tenant_id) = (signed_in.actor(), team.id.clone());
    let saved = state
        .run(move |conn, now| {
            key_policy::set_tenant_key_policy(conn, &actor, now, &tenant_id, policy)
        })
        .await?;
    let beyond = saved.keys_beyond.len();
    answer.done_at(
        format!(
            "Saved the key policy: {}.{}",
            saved.policy.describe(),
            if beyond > 0 {
                format!(
                    " {beyond} existing key(s) live longer than it allows; they are listed below."
                )
            } else {
                String::new()
            }
        ),
        &format!("{}/settings", team.base),
    )
}
