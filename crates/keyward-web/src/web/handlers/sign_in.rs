//! `/login`, `/logout`, and `/`, which sends people to their API keys.

use crate::domain::Password;
use crate::error::{AppError, HtmlError};
use crate::services::sign_in::PasswordUse;
use crate::services::{oidc, password_checks};
use crate::web::client_ip::client_ip;
use crate::web::device_cookie;
use crate::web::handlers::two_factor;
use crate::web::htmx::{html, redirect, Htmx};
use crate::web::session;
use crate::web::views::{Layout, LoginPage};
use crate::web::AppState;
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

pub const HOME: &str = "/user/api-keys";

/// Only paths on this site: `/x`, never `//host` or `/\host`.
pub fn safe_next(next: &str) -> &str {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(char::is_control);
    if ok {
        next
    } else {
        HOME
    }
}

/// `GET /`.
pub async fn home(hx: Htmx) -> HttpResponse {
    redirect(hx, HOME)
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct LoginQuery {
    next: String,
    signed_out: Option<String>,
    /// Sent here by a dialog or form whose session had ended.
    expired: Option<String>,
    /// Sent here after a password reset.
    password_reset: Option<String>,
    /// Signed out because a tenant requires single sign-on (`services::oidc::sign_in_notice`).
    sso: Option<String>,
}

/// `GET /login`; signed-in people go straight on.
pub async fn login_page(
    hx: Htmx,
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, HtmlError> {
    let next = safe_next(&query.next).to_string();
    if session::csrf_token(&session).is_some() {
        return Ok(redirect(hx, &next));
    }
    html(
        StatusCode::OK,
        &LoginPage {
            layout: Layout::anonymous("Sign in"),
            email: String::new(),
            next,
            error: None,
            sso: state.sso.as_ref().map(|s| s.settings.display_name.clone()),
            notice: match (&query.signed_out, &query.expired) {
                (Some(_), _) => Some("You have signed out.".to_string()),
                (None, Some(_)) => Some(
                    "Your session ended. Sign in again to go back to the page you were on."
                        .to_string(),
                ),
                _ if query.sso.is_some() => query.sso.as_deref().and_then(|code| {
                    let (provider, hours) = state
                        .sso
                        .as_ref()
                        .map(|s| (s.settings.display_name.clone(), s.settings.session_hours))
                        .unwrap_or_else(|| ("your identity provider".into(), 0));
                    oidc::sign_in_notice(code, &provider, hours)
                }),
                _ if query.password_reset.is_some() => Some(
                    "Your new password is set, and every session of your account has been signed out. Sign in with it."
                        .to_string(),
                ),
                _ => None,
            },
        },
    )
}

#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct LoginForm {
    email: String,
    password: String,
    next: String,
}

/// `POST /login`: a new session (under a new id) on success; the form again with the
/// reason otherwise.
pub async fn login(
    req: HttpRequest,
    hx: Htmx,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, HtmlError> {
    let LoginForm {
        email,
        password,
        next,
    } = form.into_inner();
    let next = safe_next(&next).to_string();
    let ip = client_ip(&req, &state.settings).unwrap_or_else(|| "unknown".into());
    let password = Password::offered(&password);
    let offered_email = email.clone();
    let device = device_cookie::read(&req, &state);
    let verdict = password_checks::sign_in_with_password(
        &state.db,
        &state.clock,
        offered_email,
        ip,
        device,
        password,
        PasswordUse::SignIn,
    )
    .await;
    match verdict {
        Ok(account) => {
            // Two-factor on: the password opens only the code step, not a session.
            if let Some(res) = two_factor::ask_for_code(&state, hx, &account.id, &next).await? {
                return Ok(res);
            }
            session::start(&session, &account.id, None)?;
            let mut res = redirect(hx, &next);
            // This browser is now known to the account (a fresh nonce each time).
            res.add_cookie(&device_cookie::issue(&account, &state))
                .map_err(|e| AppError::internal(format!("cannot set the device cookie: {e}")))?;
            Ok(res)
        }
        Err(
            e @ (AppError::Unauthenticated(_)
            | AppError::TooManyRequests(_)
            | AppError::Invalid(_)
            | AppError::Forbidden(_)),
        ) => {
            let (status, message) = match &e {
                AppError::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, e.to_string()),
                // A tenant that requires single sign-on: the provider's button, not this form.
                AppError::Forbidden(_) => (StatusCode::FORBIDDEN, e.to_string()),
                AppError::Invalid(i) => (StatusCode::UNPROCESSABLE_ENTITY, i.message.clone()),
                _ => (StatusCode::UNAUTHORIZED, e.to_string()),
            };
            let mut chars = message.chars();
            let message: String = match chars.next() {
                Some(c) => c.to_uppercase().chain(chars).collect(),
                None => message,
            };
            html(
                status,
                &LoginPage {
                    layout: Layout::anonymous("Sign in"),
                    email,
                    next,
                    error: Some(message),
                    notice: None,
                    sso: state.sso.as_ref().map(|s| s.settings.display_name.clone()),
                },
            )
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /logout`: the session ends here and in the database, on every instance.
pub async fn logout(
    req: HttpRequest,
    hx: Htmx,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HtmlError> {
    session::end(&session);
    // Whatever the browser kept for this site (GraphiQL's tabs and history) goes too.
    let mut res = redirect(hx, "/login?signed_out=1");
    res.headers_mut().insert(
        actix_web::http::header::HeaderName::from_static("clear-site-data"),
        actix_web::http::header::HeaderValue::from_static("\"cache\", \"storage\""),
    );
    two_factor::end_pending_sign_in(&req, &state, &mut res).await?;
    Ok(res)
}
