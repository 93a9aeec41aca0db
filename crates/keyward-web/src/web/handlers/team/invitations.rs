//! Team › Members' one-time invitation links: the invite dialog (a role, an optional
//! note, and an optional email the link is mailed to when this server can mail links),
//! the link shown once, and revocation. The pending ones are listed on the members
//! page (`row`).

use super::members::NAV;
use super::{team_of, team_with_access};
use crate::domain::{Email, InvitationId, InvitationNote, Role};
use crate::error::{AppError, HtmlError};
use crate::services::invitations::{self, InvitationRequest, PendingInvitation};
use crate::services::mail::MailLinks;
use crate::services::team_lists::TeamList;
use crate::web::client_ip;
use crate::web::handlers::form_answer::FormAnswer;
use crate::web::htmx::Htmx;
use crate::web::session::SignedIn;
use crate::web::views::{
    date_time, relative, CreatedInvitationView, FieldErrors, InvitationCreatedPage,
    InvitationCreatedPartial, InvitationForm, InvitationFormPartial, InvitationNewPage,
    InvitationRow, TeamTenant,
};
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use time::PrimitiveDateTime;

#[derive(serde::Deserialize)]
pub struct InvitationPath {
    slug: String,
    invitation_id: String,
}

#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct InvitationInput {
    role: String,
    note: String,
    email: String,
}

/// A pending invitation as the members page lists it.
pub(super) fn row(
    team: &TeamTenant,
    p: &PendingInvitation,
    now: PrimitiveDateTime,
) -> InvitationRow {
    let i = &p.invitation;
    InvitationRow {
        created_by: p
            .created_by_name
            .as_deref()
            .unwrap_or("(account removed)")
            .to_string(),
        id: i.id.clone(),
        role: i.role().map_or(i.role.clone(), |r| r.label().to_string()),
        note: i.note.clone().unwrap_or_default(),
        email: i.email.clone(),
        created: date_time(i.created_at),
        expires: relative(i.expires_at, now),
        revoke_url: format!("{}/invitations/{}/revoke", team.base, i.id),
    }
}

fn form(
    state: &AppState,
    signed_in: &SignedIn,
    team: &TeamTenant,
    input: InvitationInput,
) -> InvitationForm {
    InvitationForm {
        action: format!("{}/invitations", team.base),
        cancel_url: format!("{}/members", team.base),
        csrf_token: signed_in.csrf_token.clone(),
        role: input.role,
        note: input.note,
        note_max: InvitationNote::MAX_LEN,
        email: input.email,
        mail_off: MailLinks::of(&state.settings).why_not(),
        errors: FieldErrors::default(),
    }
}

/// The dialog (for htmx) or its page; 422 when shown again beside its errors.
fn form_response(
    hx: Htmx,
    status: StatusCode,
    signed_in: &SignedIn,
    form: InvitationForm,
) -> Result<HttpResponse, HtmlError> {
    FormAnswer::new(hx, signed_in, NAV).show(
        status,
        "Invite someone",
        form,
        |form| InvitationFormPartial { form },
        |layout, form| InvitationNewPage { layout, form },
    )
}

/// `GET /t/{slug}/team/invitations/new`: the invite dialog.
pub async fn new_form(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let team = team_with_access(&signed_in, &state, &slug, TeamList::Invitations).await?;
    let input = InvitationInput {
        role: Role::User.as_str().into(),
        ..InvitationInput::default()
    };
    let form = form(&state, &signed_in, &team, input);
    form_response(hx, StatusCode::OK, &signed_in, form)
}

/// `POST /t/{slug}/team/invitations`: the link is shown once (never stored, `no-store`);
/// a bad role or note comes back beside its field, with what was typed.
pub async fn create(
    req: HttpRequest,
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    slug: web::Path<String>,
    input: web::Form<InvitationInput>,
) -> Result<HttpResponse, HtmlError> {
    let team = team_of(&signed_in, &slug)?;
    let input = input.into_inner();
    let parsed = Role::parse(&input.role).and_then(|role| {
        let email = match input.email.trim() {
            "" => None,
            typed => Some(Email::parse(typed)?),
        };
        Ok(InvitationRequest {
            role,
            note: InvitationNote::parse(&input.note)?,
            email,
        })
    });
    let request = match parsed {
        Ok(parsed) => parsed,
        Err(e) => {
            let mut form = form(&state, &signed_in, &team, input);
            form.errors.add(e.field, e.message);
            return form_response(hx, StatusCode::UNPROCESSABLE_ENTITY, &signed_in, form);
        }
    };
    let role = request.role;
    let (actor, tenant_id) = (signed_in.actor(), team.id.clone());
    let quotas = state.settings.quotas;
    let mail = MailLinks::of(&state.settings);
    let result = state
        .run(move |conn, now| {
            Ok((
                invitations::create_invitation_within(
                    conn, &actor, now, &tenant_id, request, &quotas, &mail,
                )?,
                now,
            ))
        })
        .await;
    let (created, now) = match result {
        Ok(done) => done,
        // Mail that cannot go (no --smtp-url, no --public-url, an address it refuses)
        // comes back beside the email field.
        Err(AppError::Invalid(e)) => {
            let mut form = form(&state, &signed_in, &team, input);
            form.errors.add(e.field, e.message);
            return form_response(hx, StatusCode::UNPROCESSABLE_ENTITY, &signed_in, form);
        }
        Err(e) => return Err(e.into()),
    };
    let created = CreatedInvitationView {
        link: format!(
            "{}/t/{}/join/{}",
            client_ip::public_base(&req, &state.settings),
            team.slug,
            created.token
        ),
        role: role.label(),
        note: created.invitation.note.clone().unwrap_or_default(),
        mailed_to: created.mailed_to.clone(),
        expires: format!(
            "{} ({})",
            date_time(created.invitation.expires_at),
            relative(created.invitation.expires_at, now)
        ),
        done_url: format!("{}/members", team.base),
    };
    FormAnswer::new(hx, &signed_in, NAV).show(
        StatusCode::OK,
        "Invitation link",
        created,
        |created| InvitationCreatedPartial { created },
        |layout, created| InvitationCreatedPage { layout, created },
    )
}

/// `POST /t/{slug}/team/invitations/{invitation_id}/revoke`
pub async fn revoke(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<InvitationPath>,
) -> Result<HttpResponse, HtmlError> {
    let team = team_of(&signed_in, &path.slug)?;
    let id =
        InvitationId::parse_as("invitation_id", &path.invitation_id).map_err(AppError::from)?;
    let (actor, tenant_id) = (signed_in.actor(), team.id.clone());
    let revoked = state
        .run(move |conn, now| invitations::revoke_invitation(conn, &actor, now, &tenant_id, &id))
        .await?;
    let which = match revoked.note {
        Some(note) => format!("the invitation “{note}”"),
        None => "the invitation".into(),
    };
    FormAnswer::new(hx, &signed_in, NAV).done_at(
        format!("Revoked {which}; its link no longer works."),
        &format!("{}/members", team.base),
    )
}
