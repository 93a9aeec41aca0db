//! Single sign-on pages (the flow is `services::oidc`'s): `GET /sign-in/oidc` starts a
//! sign-in at the provider, `GET /sign-in/oidc/callback` finishes it, and
//! `/sign-in/oidc/link` asks once for the password (and, with two-factor on, a code) of an
//! account Keyward never verified.
//! The flow's random value rides in a short-lived HttpOnly `SameSite=Lax` cookie
//! (`__Host-` prefixed when cookies are `Secure`), so the provider's top-level redirect
//! back carries it and other sites' requests do not.

use crate::domain::Password;
use crate::error::{AppError, HtmlError};
use crate::services::oidc::{self, Callback, Finished, SsoFailure};
use crate::web::client_ip::client_ip;
use crate::web::handlers::sign_in::safe_next;
use crate::web::htmx::{html, redirect, Htmx};
use crate::web::session;
use crate::web::session::SignedIn;
use crate::web::views::{date_time, Layout, SsoErrorPage, SsoLinkPage, SsoLinkRow, SsoLinksPage};
use crate::web::AppState;
use actix_session::Session;
use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

fn flow_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-keyward_sso"
    } else {
        "keyward_sso"
    }
}

fn link_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-keyward_sso_link"
    } else {
        "keyward_sso_link"
    }
}

fn cookie(state: &AppState, name: &'static str, value: String, live: bool) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .secure(state.settings.secure_cookies())
        .same_site(SameSite::Lax)
        .max_age(if live {
            CookieDuration::seconds(oidc::FLOW_LIFETIME.whole_seconds())
        } else {
            CookieDuration::ZERO
        })
        .finish()
}

fn failure_page(state: &AppState, failure: &SsoFailure) -> Result<HttpResponse, HtmlError> {
    let provider = state
        .sso
        .as_ref()
        .map(|s| s.settings.display_name.clone())
        .unwrap_or_else(|| "The identity provider".into());
    if let SsoFailure::Refused(why) = failure {
        tracing::warn!(reason = %why, "a single sign-on answer was refused");
    }
    html(
        StatusCode::from_u16(failure.status()).unwrap_or(StatusCode::BAD_REQUEST),
        &SsoErrorPage {
            layout: Layout::anonymous("Not signed in"),
            message: failure.message(&provider),
        },
    )
}

fn sso_of(state: &AppState) -> Result<std::sync::Arc<oidc::Sso>, AppError> {
    state
        .sso
        .clone()
        .ok_or_else(|| AppError::not_found("single sign-on is not set up on this Keyward"))
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct StartQuery {
    next: String,
}

/// `GET /sign-in/oidc`: a new sign-in at the provider.
pub async fn start(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<StartQuery>,
) -> Result<HttpResponse, HtmlError> {
    let sso = sso_of(&state)?;
    let next = safe_next(&query.next).to_string();
    let ip = client_ip(&req, &state.settings);
    match oidc::start(&state.db, &state.clock, sso, next, ip.as_deref()).await {
        Ok(started) => {
            let secure = state.settings.secure_cookies();
            let mut res = HttpResponse::SeeOther()
                .insert_header((header::LOCATION, started.authorize_url))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish();
            res.add_cookie(&cookie(
                &state,
                flow_cookie_name(secure),
                started.cookie_value,
                true,
            ))
            .map_err(|e| AppError::internal(format!("cannot set the sign-in cookie: {e}")))?;
            Ok(res)
        }
        Err(failure) => failure_page(&state, &failure),
    }
}

/// `GET /sign-in/oidc/callback`: the provider sends the person back here.
pub async fn callback(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<Callback>,
) -> Result<HttpResponse, HtmlError> {
    let sso = sso_of(&state)?;
    let secure = state.settings.secure_cookies();
    let cookie_value = req
        .cookie(flow_cookie_name(secure))
        .map(|c| c.value().to_string());
    let ip = client_ip(&req, &state.settings).unwrap_or_else(|| "unknown".into());
    let finished = oidc::finish(
        &state.db,
        &state.clock,
        sso,
        cookie_value,
        query.into_inner(),
        ip,
    )
    .await;
    let mut res = match finished {
        Ok(Finished::SignedIn { account, next, at }) => {
            // A new session, under a new id, marked as the provider's.
            session::start_through_provider(&session, &account.id, at)?;
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, safe_next(&next).to_string()))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish()
        }
        Ok(Finished::NeedsPassword { cookie_value, .. }) => {
            let mut res = HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/sign-in/oidc/link"))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish();
            res.add_cookie(&cookie(
                &state,
                link_cookie_name(secure),
                cookie_value,
                true,
            ))
            .map_err(|e| AppError::internal(format!("cannot set the link cookie: {e}")))?;
            res
        }
        Err(failure) => failure_page(&state, &failure)?,
    };
    // The flow is used up (or was never here), whatever happened.
    res.add_removal_cookie(&cookie(
        &state,
        flow_cookie_name(secure),
        String::new(),
        false,
    ))
    .map_err(|e| AppError::internal(format!("cannot clear the sign-in cookie: {e}")))?;
    Ok(res)
}

fn link_page(
    state: &AppState,
    pending: oidc::PendingLink,
    error: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, HtmlError> {
    let provider = sso_of(state)?.settings.display_name.clone();
    html(
        status,
        &SsoLinkPage {
            layout: Layout::anonymous("Link your account"),
            provider,
            email: pending.email,
            needs_code: pending.needs_code,
            removed_before: pending.removed_before,
            error,
        },
    )
}

/// `GET /sign-in/oidc/link`: the password form, while the link waits.
pub async fn link_form(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HtmlError> {
    sso_of(&state)?;
    let value = req
        .cookie(link_cookie_name(state.settings.secure_cookies()))
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    match oidc::pending_link(&state.db, &state.clock, value).await? {
        Some(pending) => link_page(&state, pending, None, StatusCode::OK),
        None => failure_page(&state, &SsoFailure::NoSignInInProgress),
    }
}

#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct LinkForm {
    password: String,
    /// Only for an account with two-factor on.
    code: String,
}

/// `POST /sign-in/oidc/link`: the account's password (and code) links the identity, once.
pub async fn link(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<LinkForm>,
) -> Result<HttpResponse, HtmlError> {
    let sso = sso_of(&state)?;
    let secure = state.settings.secure_cookies();
    let value = req
        .cookie(link_cookie_name(secure))
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    let ip = client_ip(&req, &state.settings).unwrap_or_else(|| "unknown".into());
    let LinkForm { password, code } = form.into_inner();
    let proof = oidc::LinkProof {
        password: Password::offered(&password),
        code,
    };
    let keys = state.sealing_keys.clone();
    match oidc::confirm_link(&state.db, &state.clock, sso, keys, value.clone(), proof, ip).await {
        Ok((account, next, at)) => {
            // The provider's sign-in just finished; the password only linked it.
            session::start_through_provider(&session, &account.id, at)?;
            let mut res = HttpResponse::SeeOther()
                .insert_header((header::LOCATION, safe_next(&next).to_string()))
                .finish();
            res.add_removal_cookie(&cookie(
                &state,
                link_cookie_name(secure),
                String::new(),
                false,
            ))
            .map_err(|e| AppError::internal(format!("cannot clear the link cookie: {e}")))?;
            Ok(res)
        }
        Err(e @ (AppError::Unauthenticated(_) | AppError::TooManyRequests(_))) => {
            let status = match e {
                AppError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::UNAUTHORIZED,
            };
            match oidc::pending_link(&state.db, &state.clock, value).await? {
                Some(pending) => {
                    link_page(&state, pending, Some(capitalised(&e.to_string())), status)
                }
                None => failure_page(&state, &SsoFailure::NoSignInInProgress),
            }
        }
        Err(AppError::NotFound(_)) => failure_page(&state, &SsoFailure::NoSignInInProgress),
        Err(e) => Err(e.into()),
    }
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `GET /user/single-sign-on`: the identities linked to the signed-in person's account.
pub async fn links(
    signed_in: SignedIn,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HtmlError> {
    let (actor, account_id) = (signed_in.actor(), signed_in.person.account.account_id());
    let links = state
        .run(move |conn, _| oidc::identities_of(conn, &actor, &account_id))
        .await?;
    html(
        StatusCode::OK,
        &SsoLinksPage {
            layout: Layout::signed_in(&signed_in, "Single sign-on", "single-sign-on"),
            provider: state.sso.as_ref().map(|s| s.settings.display_name.clone()),
            links: links
                .into_iter()
                .map(|l| SsoLinkRow {
                    issuer: l.issuer,
                    subject: l.subject,
                    created: date_time(l.created_at),
                    last_sign_in: date_time(l.last_sign_in_at),
                })
                .collect(),
        },
    )
}

#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct UnlinkForm {
    issuer: String,
    subject: String,
}

/// `POST /user/single-sign-on/remove`: unlinks one identity of the person's own account;
/// every session of the account ends, this one too.
pub async fn unlink(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    form: web::Form<UnlinkForm>,
) -> Result<HttpResponse, HtmlError> {
    let (actor, account_id) = (signed_in.actor(), signed_in.person.account.account_id());
    let UnlinkForm { issuer, subject } = form.into_inner();
    let sso = state.sso.clone();
    state
        .run(move |conn, now| {
            let settings = sso.as_ref().map(|s| &s.settings);
            oidc::unlink(conn, &actor, now, &account_id, &issuer, &subject, settings)
        })
        .await?;
    session::end(&signed_in.session);
    Ok(redirect(hx, "/login?sso=unlinked"))
}
