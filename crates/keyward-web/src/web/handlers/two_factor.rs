//! User › Two-factor authentication (`/user/two-factor`: enrol, recovery codes, turn off)
//! and the code step of signing in (`/login/two-factor`). The password step hands over
//! with `ask_for_code`: the browser gets a pending sign-in cookie (a random token; the
//! database keeps its SHA-256 for five minutes), which no other page reads, so a pending
//! sign-in authorises nothing but this step.

use crate::domain::{AccountId, Password};
use crate::error::{AppError, HtmlError};
use crate::services::password_checks;
use crate::services::two_factor::{self, TwoFactorState, PENDING_SIGN_IN};
use crate::web::client_ip::client_ip;
use crate::web::device_cookie;
use crate::web::htmx::{html, redirect, Htmx};
use crate::web::session::{self, SignedIn};
use crate::web::views::{
    date_time, EnrolmentView, FieldErrors, Layout, LoginTwoFactorPage, TwoFactorOnView,
    TwoFactorPage,
};
use crate::web::AppState;
use actix_session::Session;
use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

pub const PATH: &str = "/user/two-factor";
pub const CODE_STEP: &str = "/login/two-factor";
const TITLE: &str = "Two-factor authentication";
const NAV: &str = "two-factor";

/// The pending sign-in cookie's name: `__Host-` prefixed when cookies are `Secure`.
pub fn pending_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-keyward_pending_sign_in"
    } else {
        "keyward_pending_sign_in"
    }
}

fn pending_cookie(state: &AppState, value: String, max_age: CookieDuration) -> Cookie<'static> {
    let secure = state.settings.secure_cookies();
    let mut cookie = Cookie::new(pending_cookie_name(secure), value);
    cookie.set_http_only(true);
    cookie.set_secure(secure);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_path("/");
    cookie.set_max_age(max_age);
    cookie
}

/// Signing out: the browser's pending sign-in, if any, ends (its row and its cookie), so
/// a password typed before signing out does not wait for its code.
pub async fn end_pending_sign_in(
    req: &HttpRequest,
    state: &AppState,
    res: &mut HttpResponse,
) -> Result<(), AppError> {
    let token = pending_token(req, state);
    if token.is_empty() {
        return Ok(());
    }
    state
        .run(move |conn, _| two_factor::end_pending_sign_in(conn, &token))
        .await?;
    res.add_cookie(&pending_cookie(state, String::new(), CookieDuration::ZERO))
        .map_err(|e| AppError::internal(format!("cannot expire the sign-in cookie: {e}")))
}

fn pending_token(req: &HttpRequest, state: &AppState) -> String {
    req.cookie(pending_cookie_name(state.settings.secure_cookies()))
        .map(|c| c.value().to_string())
        .unwrap_or_default()
}

/// After a right password: when the account has two-factor on, a pending sign-in (not a
/// session) and a redirect to the code step; `None` when no code is needed.
pub async fn ask_for_code(
    state: &AppState,
    hx: Htmx,
    account_id: &str,
    next: &str,
) -> Result<Option<HttpResponse>, AppError> {
    let (account_id, next_kept) = (AccountId::from_stored(account_id), next.to_string());
    let token = state
        .run(move |conn, now| two_factor::open_pending_sign_in(conn, now, &account_id, &next_kept))
        .await?;
    let Some(token) = token else {
        return Ok(None);
    };
    let mut res = redirect(hx, CODE_STEP);
    let max_age = CookieDuration::seconds(PENDING_SIGN_IN.whole_seconds());
    res.add_cookie(&pending_cookie(state, token, max_age))
        .map_err(|e| AppError::internal(format!("cannot set the sign-in cookie: {e}")))?;
    Ok(Some(res))
}

/// The code form. A browser that still holds a session (another person's, or one left
/// over) gets that session's CSRF token in the form, which the CSRF check asks of every
/// form such a browser sends: without it, the code would be refused with a 403.
fn code_page(
    session: &Session,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, HtmlError> {
    let mut layout = Layout::anonymous("Two-factor authentication");
    layout.csrf_token = session::csrf_token(session).unwrap_or_default();
    html(status, &LoginTwoFactorPage { layout, error })
}

/// Back to the password step, saying why.
fn start_again(hx: Htmx) -> HttpResponse {
    redirect(hx, "/login?expired=1")
}

/// `GET /login/two-factor`: the code form while a pending sign-in is live.
pub async fn code_form(
    req: HttpRequest,
    hx: Htmx,
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, HtmlError> {
    let token = pending_token(&req, &state);
    let live = state
        .run(move |conn, now| two_factor::pending_sign_in_is_live(conn, now, &token))
        .await?;
    if !live {
        return Ok(start_again(hx));
    }
    code_page(&session, StatusCode::OK, None)
}

#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct CodeForm {
    code: String,
}

/// `POST /login/two-factor`: a right code starts the session (under a new id) and goes
/// on to where the person was going; a wrong one shows the form again with why.
pub async fn submit_code(
    req: HttpRequest,
    hx: Htmx,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, HtmlError> {
    let token = pending_token(&req, &state);
    let ip = client_ip(&req, &state.settings).unwrap_or_else(|| "unknown".into());
    let keys = state.sealing_keys.clone();
    let code = form.into_inner().code;
    let verdict = state
        .run(move |conn, now| two_factor::complete_sign_in(conn, now, &keys, &token, &code, &ip))
        .await;
    match verdict {
        Ok(done) => {
            session::start(&session, &done.account.id, None)?;
            let next = crate::web::handlers::sign_in::safe_next(&done.next).to_string();
            let mut res = redirect(hx, &next);
            let gone = pending_cookie(&state, String::new(), CookieDuration::ZERO);
            res.add_cookie(&gone)
                .and_then(|()| res.add_cookie(&device_cookie::issue(&done.account, &state)))
                .map_err(|e| AppError::internal(format!("cannot set a cookie: {e}")))?;
            Ok(res)
        }
        Err(AppError::Unauthenticated(m)) if m == two_factor::SIGN_IN_EXPIRED => {
            Ok(start_again(hx))
        }
        Err(e @ (AppError::Unauthenticated(_) | AppError::TooManyRequests(_))) => {
            let status = match e {
                AppError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::UNAUTHORIZED,
            };
            code_page(&session, status, Some(capitalised(&e.to_string())))
        }
        Err(AppError::Invalid(i)) => code_page(
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(capitalised(&i.message)),
        ),
        Err(e) if two_factor::is_keys_changed(&e) => code_page(
            &session,
            StatusCode::SERVICE_UNAVAILABLE,
            Some(capitalised(two_factor::KEYS_CHANGED)),
        ),
        Err(e) => Err(e.into()),
    }
}

fn capitalised(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct PageQuery {
    /// The slug of the tenant whose requirement sent the person here.
    required: String,
}

/// The page as the person's two-factor stands, with `recovery_codes` just made.
async fn page(
    state: &AppState,
    signed_in: &SignedIn,
    status: StatusCode,
    recovery_codes: Vec<String>,
    required_by: Option<String>,
    errors: FieldErrors,
) -> Result<HttpResponse, HtmlError> {
    let (actor, keys) = (signed_in.actor(), state.sealing_keys.clone());
    let now_state = state
        .run(move |conn, now| two_factor::state(conn, now, &keys, &actor))
        .await?;
    let (enrolling, on) = match now_state {
        TwoFactorState::Enrolling(e) => (
            Some(EnrolmentView {
                qr_svg: e.qr_svg,
                otpauth_url: e.otpauth_url,
                secret: e.secret_base32,
            }),
            None,
        ),
        TwoFactorState::On {
            enabled_at,
            recovery_codes_left,
        } => (
            None,
            Some(TwoFactorOnView {
                enabled: date_time(enabled_at),
                recovery_codes_left,
            }),
        ),
    };
    html(
        status,
        &TwoFactorPage {
            layout: Layout::signed_in(signed_in, TITLE, NAV),
            enrolling,
            on,
            recovery_codes,
            required_by,
            errors,
        },
    )
}

/// `GET /user/two-factor`.
pub async fn show(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, HtmlError> {
    let required_by = signed_in
        .person
        .tenants
        .iter()
        .find(|m| m.tenant.slug == query.required)
        .map(|m| m.tenant.name.clone());
    page(
        &state,
        &signed_in,
        StatusCode::OK,
        Vec::new(),
        required_by,
        FieldErrors::default(),
    )
    .await
}

#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct EnableForm {
    password: String,
    code: String,
}

/// `POST /user/two-factor/enable`: the password and the first code turn it on; the
/// recovery codes are shown on this answer only. Every other session of the account ends;
/// this one goes on under a new id.
pub async fn enable(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    form: web::Form<EnableForm>,
) -> Result<HttpResponse, HtmlError> {
    let EnableForm { password, code } = form.into_inner();
    if password.is_empty() {
        let e = AppError::invalid("password", "enter your password");
        return invalid_or_error(&state, &signed_in, e).await;
    }
    let (actor, keys) = (signed_in.actor(), state.sealing_keys.clone());
    let password = Password::offered(&password);
    let done =
        password_checks::enable_two_factor(&state.db, &state.clock, keys, actor, password, code)
            .await;
    if done.is_ok() {
        // The account's sessions are gone, this one's row too: it goes on under a new id.
        signed_in.session.renew();
    }
    answer_with_codes(&state, &signed_in, done).await
}

#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct RecoveryCodesForm {
    password: String,
}

/// `POST /user/two-factor/recovery-codes`: with the password, new codes, shown once; the
/// old ones stop.
pub async fn regenerate_recovery_codes(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    form: web::Form<RecoveryCodesForm>,
) -> Result<HttpResponse, HtmlError> {
    let password = form.into_inner().password;
    if password.is_empty() {
        let e = AppError::invalid("password", "enter your password");
        return invalid_or_error(&state, &signed_in, e).await;
    }
    let (actor, keys) = (signed_in.actor(), state.sealing_keys.clone());
    let password = Password::offered(&password);
    let done =
        password_checks::regenerate_recovery_codes(&state.db, &state.clock, keys, actor, password)
            .await;
    answer_with_codes(&state, &signed_in, done).await
}

async fn answer_with_codes(
    state: &AppState,
    signed_in: &SignedIn,
    done: Result<two_factor::RecoveryCodes, AppError>,
) -> Result<HttpResponse, HtmlError> {
    match done {
        Ok(codes) => {
            let status = StatusCode::OK;
            page(
                state,
                signed_in,
                status,
                codes.0,
                None,
                FieldErrors::default(),
            )
            .await
        }
        Err(e) => invalid_or_error(state, signed_in, e).await,
    }
}

/// A form error beside its field (the page again, 422 or 429); anything else as itself.
async fn invalid_or_error(
    state: &AppState,
    signed_in: &SignedIn,
    e: AppError,
) -> Result<HttpResponse, HtmlError> {
    let mut errors = FieldErrors::default();
    let status = match &e {
        AppError::Invalid(i) => {
            errors.add(i.field, i.message.clone());
            StatusCode::UNPROCESSABLE_ENTITY
        }
        AppError::TooManyRequests(m) => {
            errors.add("code", m.clone());
            StatusCode::TOO_MANY_REQUESTS
        }
        e if two_factor::is_keys_changed(e) => {
            errors.add("code", two_factor::KEYS_CHANGED);
            StatusCode::SERVICE_UNAVAILABLE
        }
        _ => return Err(e.into()),
    };
    page(state, signed_in, status, Vec::new(), None, errors).await
}

#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct DisableForm {
    password: String,
    code: String,
}

/// `POST /user/two-factor/disable`: needs the password and a code.
pub async fn disable(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    form: web::Form<DisableForm>,
) -> Result<HttpResponse, HtmlError> {
    let DisableForm { password, code } = form.into_inner();
    if password.is_empty() {
        let e = AppError::invalid("password", "enter your password");
        return invalid_or_error(&state, &signed_in, e).await;
    }
    let (actor, keys) = (signed_in.actor(), state.sealing_keys.clone());
    let password = Password::offered(&password);
    let done =
        password_checks::disable_two_factor(&state.db, &state.clock, keys, actor, password, code)
            .await;
    match done {
        Ok(()) => {
            session::set_flash(
                &signed_in.session,
                "Two-factor authentication is off: signing in takes your password only.",
            )?;
            Ok(redirect(hx, PATH))
        }
        Err(e) => invalid_or_error(&state, &signed_in, e).await,
    }
}

/// Where a person who must enrol first is sent (`?required=` names the tenant).
pub fn enrol_first_path(tenant_slug: &str) -> String {
    format!("{PATH}?required={tenant_slug}")
}

/// The pages a person who must enrol first may still open: this page and its forms, and
/// signing out.
pub fn open_before_enrolment(path: &str) -> bool {
    path == PATH || path.starts_with("/user/two-factor/") || path == "/logout"
}
