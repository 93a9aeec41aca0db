//! Account recovery in the browser (`services::recovery`):
//!
//! - `/forgot-password`: the form that mails a reset link (the same answer for any
//!   address); without mail or `--public-url` it says so and whom to ask.
//! - `GET /reset-password/{token}`: consumes nothing; exchanges the token for a state in an
//!   HttpOnly cookie and redirects to `/reset-password`, whose URL has no token.
//! - `/reset-password`: the form; its POST sets the password once, ends every session of
//!   the account, and sends the person to sign in.
//! - `POST /t/{slug}/team/members/{account_id}/reset-link`: an admin's reset link, mailed
//!   to the person's stored address when this server mails links, else shown once.
//!
//! The responses at the link's URL (which holds the token) send `Referrer-Policy:
//! no-referrer`, so the token never leaves through `Referer`; the token-free pages keep
//! the site's `same-origin` (`no-referrer` would make Chromium send `Origin: null` with
//! their forms, which the CSRF check refuses as another site's).

use crate::domain::{AccountId, Password};
use crate::error::{AppError, HtmlError};
use crate::services::mail::MailLinks;
use crate::services::{passwords, recovery};
use crate::web::client_ip::{self, client_ip};
use crate::web::handlers::team::team_of;
use crate::web::htmx::html;
use crate::web::session::{self, SignedIn};
use crate::web::views::{
    date_time, FieldErrors, ForgotPasswordPage, Layout, ResetLinkCreatedPage, ResetPasswordPage,
};
use crate::web::AppState;
use actix_session::Session;
use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

/// The token-free page a link leads to.
pub const RESET_PAGE: &str = "/reset-password";

/// The state cookie's name: `__Host-` prefixed when cookies are `Secure`.
pub fn state_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-keyward_reset"
    } else {
        "keyward_reset"
    }
}

fn no_referrer(mut res: HttpResponse) -> HttpResponse {
    res.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

fn state_cookie(state: &AppState, value: String, max_age: CookieDuration) -> Cookie<'static> {
    let secure = state.settings.secure_cookies();
    Cookie::build(state_cookie_name(secure), value)
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(max_age)
        .finish()
}

fn read_state(req: &HttpRequest, state: &AppState) -> String {
    req.cookie(state_cookie_name(state.settings.secure_cookies()))
        .map(|c| c.value().to_string())
        .unwrap_or_default()
}

// ---- "Forgot your password?" ----

fn forgot_page(
    session: &Session,
    state: &AppState,
    email: String,
    sent: bool,
    error: Option<String>,
) -> ForgotPasswordPage {
    ForgotPasswordPage {
        layout: Layout::anonymous("Forgot your password?"),
        csrf_token: session::csrf_token(session).unwrap_or_default(),
        email,
        mail_off: MailLinks::of(&state.settings).why_not(),
        sent,
        error,
    }
}

/// `GET /forgot-password`.
pub async fn forgot_form(
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HtmlError> {
    html(
        StatusCode::OK,
        &forgot_page(&session, &state, String::new(), false, None),
    )
}

#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct ForgotInput {
    email: String,
}

fn capitalised(message: String) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => message,
    }
}

/// `POST /forgot-password`: the same page whether or not the address has an account.
pub async fn forgot(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    input: web::Form<ForgotInput>,
) -> Result<HttpResponse, HtmlError> {
    let email = input.into_inner().email;
    let links = MailLinks::of(&state.settings);
    if links.why_not().is_some() {
        return html(
            StatusCode::UNPROCESSABLE_ENTITY,
            &forgot_page(&session, &state, email, false, None),
        );
    }
    let ip = client_ip(&req, &state.settings).unwrap_or_else(|| "unknown".into());
    let typed = email.clone();
    let asked = state
        .run(move |conn, now| recovery::request_by_mail(conn, now, &links, &typed, &ip))
        .await;
    let shown = email.trim().to_string();
    match asked {
        Ok(()) => html(
            StatusCode::OK,
            &forgot_page(&session, &state, shown, true, None),
        ),
        Err(e @ AppError::TooManyRequests(_)) => html(
            StatusCode::TOO_MANY_REQUESTS,
            &forgot_page(
                &session,
                &state,
                shown,
                false,
                Some(capitalised(e.to_string())),
            ),
        ),
        Err(AppError::Invalid(i)) => html(
            StatusCode::UNPROCESSABLE_ENTITY,
            &forgot_page(&session, &state, shown, false, Some(capitalised(i.message))),
        ),
        Err(e) => Err(e.into()),
    }
}

// ---- the link and the page it leads to ----

fn reset_page(
    session: &Session,
    email: String,
    problem: Option<String>,
    errors: FieldErrors,
) -> ResetPasswordPage {
    ResetPasswordPage {
        layout: Layout::anonymous("Set a new password"),
        csrf_token: session::csrf_token(session).unwrap_or_default(),
        email,
        problem: problem.map(capitalised),
        errors,
    }
}

/// The page for a dead link or state: why, and where to ask for a new link.
fn dead(session: &Session, why: String) -> Result<HttpResponse, HtmlError> {
    html(
        StatusCode::NOT_FOUND,
        &reset_page(session, String::new(), Some(why), FieldErrors::default()),
    )
}

/// `GET /reset-password/{token}`: consumes nothing. A live link gets a new state, carried
/// in a cookie to `/reset-password`; a dead one gets a page saying why.
pub async fn open_link(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let token = token.into_inner();
    let ip = client_ip(&req, &state.settings);
    let opened = state
        .run(move |conn, now| recovery::open_link(conn, now, &token, ip))
        .await;
    match opened {
        Ok(value) => {
            let max_age = CookieDuration::seconds(recovery::STATE_VALID_FOR.whole_seconds());
            let mut res = HttpResponse::SeeOther()
                .insert_header((header::LOCATION, RESET_PAGE))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish();
            res.add_cookie(&state_cookie(&state, value, max_age))
                .map_err(|e| AppError::internal(format!("cannot set the reset cookie: {e}")))?;
            Ok(no_referrer(res))
        }
        // Shown at the link's URL: no-referrer here too.
        Err(AppError::NotFound(why)) => Ok(no_referrer(dead(&session, why)?)),
        Err(e) => Err(e.into()),
    }
}

/// `GET /reset-password`: the form, while the state in the cookie is live.
pub async fn reset_form(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HtmlError> {
    let value = read_state(&req, &state);
    let found = state
        .run(move |conn, now| recovery::state_email(conn, now, &value))
        .await;
    match found {
        Ok(email) => html(
            StatusCode::OK,
            &reset_page(&session, email, None, FieldErrors::default()),
        ),
        Err(AppError::NotFound(why)) => dead(&session, why),
        Err(e) => Err(e.into()),
    }
}

#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct ResetInput {
    new_password: String,
    new_password_again: String,
}

/// `POST /reset-password`: sets the password once; every session of the account ends
/// (this browser's too), and the person signs in with it.
pub async fn reset(
    req: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    input: web::Form<ResetInput>,
) -> Result<HttpResponse, HtmlError> {
    let input = input.into_inner();
    let value = read_state(&req, &state);
    let checked = value.clone();
    let email = match state
        .run(move |conn, now| recovery::state_email(conn, now, &checked))
        .await
    {
        Ok(email) => email,
        Err(AppError::NotFound(why)) => return dead(&session, why),
        Err(e) => return Err(e.into()),
    };
    let mut errors = FieldErrors::default();
    let new = Password::parse_new(&input.new_password)
        .map_err(|e| errors.add("new_password", e.message))
        .ok();
    if input.new_password != input.new_password_again {
        errors.add("new_password_again", "does not match the new password");
    }
    let Some(new) = new.filter(|_| errors.is_empty()) else {
        return html(
            StatusCode::UNPROCESSABLE_ENTITY,
            &reset_page(&session, email, None, errors),
        );
    };
    // Hashed with no connection held; the state is checked again when it is stored.
    let hash = passwords::hash_bounded(new).await?;
    let ip = client_ip(&req, &state.settings);
    let done = state
        .run(move |conn, now| recovery::reset_password(conn, now, &value, hash, ip))
        .await;
    match done {
        Ok(_) => {}
        Err(AppError::NotFound(why)) => return dead(&session, why),
        Err(e) => return Err(e.into()),
    }
    // Whoever was signed in in this browser is signed out too (their session row is gone
    // if it was this account's).
    if session::csrf_token(&session).is_some() {
        session::end(&session);
    }
    let mut res = HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/login?password_reset=1"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish();
    res.add_removal_cookie(&state_cookie(&state, String::new(), CookieDuration::ZERO))
        .map_err(|e| AppError::internal(format!("cannot clear the reset cookie: {e}")))?;
    Ok(res)
}

// ---- an admin's reset link ----

#[derive(serde::Deserialize)]
pub struct MemberPath {
    slug: String,
    account_id: String,
}

/// `POST /t/{slug}/team/members/{account_id}/reset-link`: the link, mailed to the
/// person's stored address when this server mails links, else shown once.
pub async fn create_link(
    req: HttpRequest,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<MemberPath>,
) -> Result<HttpResponse, HtmlError> {
    let team = team_of(&signed_in, &path.slug)?;
    let account_id = AccountId::parse_as("user_id", &path.account_id).map_err(AppError::from)?;
    let (actor, tenant_id) = (signed_in.actor(), team.id.clone());
    let links = MailLinks::of(&state.settings);
    let issued = state
        .run(move |conn, now| {
            recovery::create_reset_link(conn, &actor, now, &tenant_id, &account_id, &links)
        })
        .await?;
    let link = issued.token.as_deref().map(|token| {
        format!(
            "{}{}",
            client_ip::public_base(&req, &state.settings),
            recovery::link_path(token)
        )
    });
    let res = html(
        StatusCode::OK,
        &ResetLinkCreatedPage {
            layout: Layout::signed_in(&signed_in, "Password reset link", "team-members"),
            name: issued.account.name.clone(),
            email: issued.account.email.clone().unwrap_or_default(),
            mailed: link.is_none(),
            link: link.unwrap_or_default(),
            expires: date_time(issued.expires_at),
            done_url: format!("{}/members", team.base),
        },
    )?;
    // A page that may show the link: not kept in a cache.
    let mut res = res;
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}
