//! `/t/{slug}/join/{token}`: opening an invitation link. Signed in, you join with one
//! click; otherwise you sign in (and come back) or create an account here, which joins
//! in the same transaction.

use crate::domain::{Email, Password, PersonName};
use crate::error::{AppError, HtmlError};
use crate::services::invitations::{self, InvitationPreview, NewPerson};
use crate::services::passwords;
use crate::web::client_ip::client_ip;
use crate::web::htmx::{html, redirect, Htmx};
use crate::web::session::{self, SignedIn};
use crate::web::views::{FieldErrors, JoinPage, Layout};
use crate::web::AppState;
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

#[derive(serde::Deserialize)]
pub struct JoinPath {
    slug: String,
    token: String,
}

#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct SignUpInput {
    email: String,
    name: String,
    password: String,
}

fn join_page(
    signed_in: Option<&SignedIn>,
    path: &JoinPath,
    preview: InvitationPreview,
    input: Option<&SignUpInput>,
    errors: FieldErrors,
) -> JoinPage {
    let InvitationPreview {
        tenant,
        role,
        inviter: invited_by,
        email: bound_email,
    } = preview;
    let (tenant_name, role) = (tenant.name, role.label());
    let action = format!("/t/{}/join/{}", path.slug, path.token);
    JoinPage {
        layout: match signed_in {
            Some(s) => Layout::signed_in(s, format!("Join {tenant_name}"), ""),
            None => Layout::anonymous(format!("Join {tenant_name}")),
        },
        tenant_name,
        role,
        invited_by,
        sign_in_url: format!("/login?next={action}"),
        signup_action: format!("{action}/account"),
        action,
        signed_in_as: signed_in.map(|s| s.person.account.email.clone().unwrap_or_default()),
        email: bound_email
            .clone()
            .or_else(|| input.map(|i| i.email.clone()))
            .unwrap_or_default(),
        bound_email,
        name: input.map(|i| i.name.clone()).unwrap_or_default(),
        errors,
    }
}

/// `GET /t/{slug}/join/{token}`
pub async fn page(
    signed_in: Option<SignedIn>,
    state: web::Data<AppState>,
    path: web::Path<JoinPath>,
) -> Result<HttpResponse, HtmlError> {
    let (slug, token) = (path.slug.clone(), path.token.clone());
    let preview = state
        .run(move |conn, now| invitations::preview_with_inviter(conn, now, &slug, &token))
        .await?;
    html(
        StatusCode::OK,
        &join_page(
            signed_in.as_ref(),
            &path,
            preview,
            None,
            FieldErrors::default(),
        ),
    )
}

/// `POST /t/{slug}/join/{token}`: the signed-in person joins; the link is used up.
pub async fn accept(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<JoinPath>,
) -> Result<HttpResponse, HtmlError> {
    let (slug, token) = (path.slug.clone(), path.token.clone());
    let actor = signed_in.actor();
    let (tenant, membership) = state
        .run(move |conn, now| {
            // Again: the invitation may have been used or revoked while the password hashed.
            let (tenant, _) = invitations::preview(conn, now, &slug, &token)?;
            let membership =
                invitations::accept_invitation(conn, &actor, now, &tenant.tenant_id(), &token)?;
            Ok((tenant, membership))
        })
        .await?;
    session::set_current_tenant(&signed_in.session, &tenant.id)?;
    let role = membership.role().map_or("a member", |r| r.label());
    session::set_flash(
        &signed_in.session,
        format!("You joined {} as {role}.", tenant.name),
    )?;
    Ok(redirect(hx, "/user/api-keys"))
}

/// `POST /t/{slug}/join/{token}/account`: creates the account, joins, and signs in.
pub async fn sign_up(
    req: HttpRequest,
    hx: Htmx,
    session: Session,
    state: web::Data<AppState>,
    path: web::Path<JoinPath>,
    input: web::Form<SignUpInput>,
) -> Result<HttpResponse, HtmlError> {
    let input = input.into_inner();
    // The invitation first: an unknown, used or expired token is refused before anything
    // else, and a mailed one decides the address (whatever the form says).
    let (s, t) = (path.slug.clone(), path.token.clone());
    let bound = state
        .run(move |conn, now| invitations::preview_with_inviter(conn, now, &s, &t))
        .await?
        .email;
    let mut errors = FieldErrors::default();
    let email = Email::parse(bound.as_deref().unwrap_or(&input.email))
        .map_err(|e| errors.add("email", e.message))
        .ok();
    let name = PersonName::parse(&input.name)
        .map_err(|e| errors.add("name", e.message))
        .ok();
    let password = Password::parse_new(&input.password)
        .map_err(|e| errors.add("password", e.message))
        .ok();
    let (slug, token) = (path.slug.clone(), path.token.clone());
    let (Some(email), Some(name), Some(password)) = (email, name, password) else {
        return sign_up_again(&state, &path, &input, errors).await;
    };
    let ip = client_ip(&req, &state.settings);
    // The invitation was checked above: an unknown, used or expired token costs no hashing
    // turn, so bogus tokens cannot keep the hashers busy and make sign-ins wait or 429.
    let person = NewPerson {
        email,
        name,
        password: passwords::hash_bounded(password).await?,
    };
    let result = state
        .run(move |conn, now| {
            // Again: the invitation may have been used or revoked while the password hashed.
            let (tenant, _) = invitations::preview(conn, now, &slug, &token)?;
            let (account, _) = invitations::accept_invitation_as_new_person(
                conn,
                ip,
                now,
                &tenant.tenant_id(),
                &token,
                person,
            )?;
            Ok((tenant, account))
        })
        .await;
    let (tenant, account) = match result {
        Ok(done) => done,
        Err(AppError::Conflict(m)) if m.contains("email") => {
            let mut errors = FieldErrors::default();
            errors.add("email", "an account with this email already exists: sign in instead, then open the link again");
            return sign_up_again(&state, &path, &input, errors).await;
        }
        Err(e) => return Err(e.into()),
    };
    session::start(&session, &account.id, Some(&tenant.id))?;
    session::set_flash(&session, format!("Welcome to {}!", tenant.name))?;
    Ok(redirect(hx, "/user/api-keys"))
}

/// The sign-up form again, with what was typed and what to fix.
async fn sign_up_again(
    state: &AppState,
    path: &JoinPath,
    input: &SignUpInput,
    errors: FieldErrors,
) -> Result<HttpResponse, HtmlError> {
    let (slug, token) = (path.slug.clone(), path.token.clone());
    let preview = state
        .run(move |conn, now| invitations::preview_with_inviter(conn, now, &slug, &token))
        .await?;
    let page = join_page(None, path, preview, Some(input), errors);
    html(StatusCode::UNPROCESSABLE_ENTITY, &page)
}
