//! Browser sessions: an actix-session `SessionStore` over the database (rows keyed by the
//! SHA-256 of the session id, see `services::sessions`), the cookie settings, the
//! `SignedIn` extractor that re-reads the person and their memberships on every request,
//! one-time form nonces and flash messages.
//!
//! Only signed-in sessions are stored: anonymous visitors carry no session at all.

use crate::domain::api_key::random_secret;
use crate::domain::clock::{parse_rfc3339_utc, rfc3339};
use crate::error::{AppError, HtmlError};
use crate::services::oidc::{self as services_oidc, SessionOrigin};
use crate::services::sessions::{self, SessionData, SignedInPerson, TenantMembership};
use crate::services::two_factor as services_two_factor;
use crate::services::Actor;
use crate::web::client_ip::client_ip;
use crate::web::handlers::two_factor;
use crate::web::AppState;
use actix_session::config::{BrowserSession, CookieContentSecurity};
use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_session::{Session, SessionExt, SessionMiddleware};
use actix_web::cookie::{time::Duration as CookieDuration, Key, SameSite};
use actix_web::http::Method;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;

const ACCOUNT_ID: &str = "account_id";
pub(crate) const CSRF_TOKEN: &str = "csrf_token";
const TENANT_ID: &str = "tenant_id";
const SIGNED_IN_AT: &str = "signed_in_at";
/// Set (to `true`) in a session opened through the OpenID provider; kept in the stored
/// session, never in the cookie, so a browser cannot claim it.
const THROUGH_PROVIDER: &str = "through_provider";
const FLASH: &str = "flash";
const FORM_NONCES: &str = "form_nonces";
/// How many unused form nonces a session remembers (one per open form).
const MAX_FORM_NONCES: usize = 20;

/// The session cookie's name: `__Host-` prefixed when cookies are `Secure`.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-keyward_session"
    } else {
        "keyward_session"
    }
}

/// The session middleware: HttpOnly, SameSite=Lax, path `/`, no domain, `Secure` when the
/// public URL is https; the cookie's content is the encrypted session id, and lasts until
/// the browser closes (the server ends the session earlier on its timeouts).
pub fn middleware(state: &AppState, key: Key) -> SessionMiddleware<DbSessionStore> {
    let secure = state.settings.secure_cookies();
    SessionMiddleware::builder(
        DbSessionStore {
            state: state.clone(),
        },
        key,
    )
    .cookie_name(cookie_name(secure).to_string())
    .cookie_secure(secure)
    .cookie_http_only(true)
    .cookie_same_site(SameSite::Lax)
    .cookie_path("/".to_string())
    .cookie_domain(None)
    .cookie_content_security(CookieContentSecurity::Private)
    .session_lifecycle(BrowserSession::default())
    .build()
}

/// Sessions in the `sessions` table; the timeouts are enforced in `load`.
#[derive(Clone)]
pub struct DbSessionStore {
    state: AppState,
}

fn decode(value: Option<String>) -> Result<Option<String>, anyhow::Error> {
    Ok(value
        .map(|v| serde_json::from_str::<String>(&v))
        .transpose()?)
}

/// Splits actix-session's state (JSON-encoded values) into the row's columns and the rest.
fn to_data(mut state: HashMap<String, String>) -> Result<SessionData, anyhow::Error> {
    let account_id = decode(state.remove(ACCOUNT_ID))?
        .ok_or_else(|| anyhow::anyhow!("only signed-in sessions are stored"))?;
    let csrf_token = decode(state.remove(CSRF_TOKEN))?
        .ok_or_else(|| anyhow::anyhow!("a signed-in session must have a CSRF token"))?;
    let tenant_id = decode(state.remove(TENANT_ID))?;
    let signed_in_at = decode(state.remove(SIGNED_IN_AT))?.and_then(|t| parse_rfc3339_utc(&t));
    let rest: BTreeMap<String, String> = state.into_iter().collect();
    Ok(SessionData {
        account_id,
        csrf_token,
        tenant_id,
        state: serde_json::to_string(&rest)?,
        signed_in_at,
    })
}

fn from_data(data: SessionData) -> HashMap<String, String> {
    let mut state: HashMap<String, String> = serde_json::from_str(&data.state).unwrap_or_default();
    let encode = |s: &str| serde_json::Value::from(s).to_string();
    state.insert(ACCOUNT_ID.into(), encode(&data.account_id));
    state.insert(CSRF_TOKEN.into(), encode(&data.csrf_token));
    if let Some(t) = &data.tenant_id {
        state.insert(TENANT_ID.into(), encode(t));
    }
    if let Some(t) = data.signed_in_at {
        state.insert(SIGNED_IN_AT.into(), encode(&rfc3339(t)));
    }
    state
}

impl SessionStore for DbSessionStore {
    async fn load(
        &self,
        session_key: &SessionKey,
    ) -> Result<Option<HashMap<String, String>>, LoadError> {
        let id = session_key.as_ref().to_string();
        let data = self
            .state
            .run(move |conn, now| sessions::load(conn, now, &id))
            .await
            .map_err(|e| LoadError::Other(store_failed(e)))?;
        Ok(data.map(from_data))
    }

    async fn save(
        &self,
        session_state: HashMap<String, String>,
        _ttl: &CookieDuration,
    ) -> Result<SessionKey, SaveError> {
        let data = to_data(session_state).map_err(SaveError::Serialization)?;
        let id = random_secret(43);
        let stored = id.clone();
        self.state
            .run(move |conn, now| sessions::create(conn, now, &stored, data))
            .await
            .map_err(|e| SaveError::Other(store_failed(e)))?;
        SessionKey::try_from(id).map_err(|e| SaveError::Other(anyhow::Error::new(e)))
    }

    async fn update(
        &self,
        session_key: SessionKey,
        session_state: HashMap<String, String>,
        _ttl: &CookieDuration,
    ) -> Result<SessionKey, UpdateError> {
        let data = to_data(session_state).map_err(UpdateError::Serialization)?;
        let id = session_key.as_ref().to_string();
        self.state
            .run(move |conn, now| sessions::update(conn, now, &id, &data))
            .await
            .map_err(|e| UpdateError::Other(store_failed(e)))?;
        Ok(session_key)
    }

    /// `load` already records activity (at most once a minute).
    async fn update_ttl(
        &self,
        _session_key: &SessionKey,
        _ttl: &CookieDuration,
    ) -> Result<(), anyhow::Error> {
        Ok(())
    }

    async fn delete(&self, session_key: &SessionKey) -> Result<(), anyhow::Error> {
        let id = session_key.as_ref().to_string();
        self.state
            .run(move |conn, _| sessions::end(conn, &id))
            .await
            .map_err(store_failed)
    }
}

/// A store failure for actix-session, which answers it with an opaque 500; an unavailable
/// database is noted first, so that the dashboard answers 503 instead (`session_outage`).
fn store_failed(e: AppError) -> anyhow::Error {
    crate::web::session_outage::note(&e);
    anyhow::Error::new(e)
}

fn session_error(e: impl std::fmt::Display) -> AppError {
    AppError::internal(format!("the session could not be changed: {e}"))
}

/// Starts a signed-in session under a new id (the old one, if any, is deleted), with a
/// fresh CSRF token.
pub fn start(session: &Session, account_id: &str, tenant_id: Option<&str>) -> Result<(), AppError> {
    session.clear();
    session.renew();
    session
        .insert(ACCOUNT_ID, account_id)
        .map_err(session_error)?;
    session
        .insert(CSRF_TOKEN, random_secret(32))
        .map_err(session_error)?;
    if let Some(t) = tenant_id {
        session.insert(TENANT_ID, t).map_err(session_error)?;
    }
    Ok(())
}

/// Starts a signed-in session, like `start`, marked as opened through the OpenID provider
/// (a tenant that requires single sign-on accepts only those), signed in at `at` (the time
/// the sign-in was committed, not the later one its session is saved at: a link removal
/// in between ends it, `services::oidc::session_refusal`).
pub fn start_through_provider(
    session: &Session,
    account_id: &str,
    at: time::PrimitiveDateTime,
) -> Result<(), AppError> {
    start(session, account_id, None)?;
    session
        .insert(SIGNED_IN_AT, rfc3339(at))
        .map_err(session_error)?;
    session
        .insert(THROUGH_PROVIDER, true)
        .map_err(session_error)
}

/// How this session was opened, as the stored session says.
fn origin(session: &Session) -> SessionOrigin {
    SessionOrigin {
        through_provider: session
            .get::<bool>(THROUGH_PROVIDER)
            .ok()
            .flatten()
            .unwrap_or(false),
        signed_in_at: session
            .get::<String>(SIGNED_IN_AT)
            .ok()
            .flatten()
            .and_then(|t| parse_rfc3339_utc(&t)),
    }
}

/// Goes on under a new id and a new CSRF token, keeping the sign-in time (and so the
/// absolute limit): after a password change.
pub fn rotate(session: &Session) -> Result<(), AppError> {
    session.renew();
    session
        .insert(CSRF_TOKEN, random_secret(32))
        .map_err(session_error)
}

/// Ends the session here and in the database.
pub fn end(session: &Session) {
    session.purge();
}

/// The CSRF token of a signed-in session; `None` for anonymous visitors.
pub fn csrf_token(session: &Session) -> Option<String> {
    session.get::<String>(CSRF_TOKEN).ok().flatten()
}

/// A message shown once, on the next page (for plain-POST-and-redirect flows).
pub fn set_flash(session: &Session, message: impl Into<String>) -> Result<(), AppError> {
    session.insert(FLASH, message.into()).map_err(session_error)
}

pub fn take_flash(session: &Session) -> Option<String> {
    // Look before removing: a removal marks the session changed, which costs a write.
    let flash = session.get::<String>(FLASH).ok().flatten()?;
    session.remove(FLASH);
    Some(flash)
}

fn form_nonces(session: &Session) -> Vec<String> {
    session
        .get::<Vec<String>>(FORM_NONCES)
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// A one-time value for a form that must not act twice (DESIGN §1: a resubmitted create
/// form creates nothing). Nonces live in the session state, so a resubmission (reload,
/// back-and-submit, a second click after the first answer) finds its nonce used up. Two
/// posts in flight at the same instant both read the session before either writes it: for
/// those, the create-key form derives its key's id from the nonce, and the id's unique
/// index lets only one through.
pub fn issue_form_nonce(session: &Session) -> Result<String, AppError> {
    let mut nonces = form_nonces(session);
    let nonce = random_secret(24);
    nonces.push(nonce.clone());
    if nonces.len() > MAX_FORM_NONCES {
        nonces.remove(0);
    }
    session.insert(FORM_NONCES, nonces).map_err(session_error)?;
    Ok(nonce)
}

pub fn form_nonce_is_live(session: &Session, nonce: &str) -> bool {
    !nonce.is_empty() && form_nonces(session).iter().any(|n| n == nonce)
}

/// Uses up a nonce; false when it was never issued or is already used.
pub fn consume_form_nonce(session: &Session, nonce: &str) -> Result<bool, AppError> {
    let mut nonces = form_nonces(session);
    let before = nonces.len();
    nonces.retain(|n| n != nonce);
    if nonces.len() == before || nonce.is_empty() {
        return Ok(false);
    }
    session.insert(FORM_NONCES, nonces).map_err(session_error)?;
    Ok(true)
}

/// A signed-in person, read fresh on this request: anonymous visitors are sent to the
/// sign-in page (htmx requests get `HX-Redirect`).
#[derive(Clone)]
pub struct SignedIn {
    pub person: SignedInPerson,
    pub csrf_token: String,
    pub ip: Option<String>,
    pub session: Session,
    /// Not opened through the OpenID provider (or too old): tenants that require single
    /// sign-on refuse this session's actor.
    pub outside_sso: bool,
}

impl SignedIn {
    pub fn actor(&self) -> Actor {
        Actor::person(
            self.person.account.id.clone(),
            self.ip.clone(),
            crate::services::SingleSignOn::outside(self.outside_sso),
        )
    }

    pub fn account_id(&self) -> &str {
        &self.person.account.id
    }

    pub fn current_tenant(&self) -> Option<&TenantMembership> {
        self.person.current.as_ref()
    }
}

/// Where to come back to after signing in: the page asked for, for GET requests.
fn sign_in_target(req: &HttpRequest) -> Option<String> {
    if req.method() != Method::GET {
        // htmx says which page the form was on, a plain form's browser says it in
        // `Referer`: back there after signing in (only its path: `/login` keeps `next` on
        // this site).
        let page = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<actix_web::http::Uri>().ok())
                .map(|uri| match uri.query() {
                    Some(q) => format!("{}?{q}", uri.path()),
                    None => uri.path().to_string(),
                })
        };
        return page("hx-current-url").or_else(|| page("referer"));
    }
    let path = match req.uri().query() {
        Some(q) => format!("{}?{q}", req.path()),
        None => req.path().to_string(),
    };
    Some(path)
}

/// The tenant slug of a `/t/{slug}/team/…` URL.
pub fn team_page_slug(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/t/")?;
    let (slug, rest) = rest.split_once('/')?;
    rest.starts_with("team/").then_some(slug)
}

impl FromRequest for SignedIn {
    type Error = HtmlError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, HtmlError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let read = read_signed_in(req.clone()).await;
            req.extensions_mut()
                .insert(Seen(read.as_ref().ok().cloned()));
            read
        })
    }
}

/// What the request's `SignedIn` came to, kept so that an error page drawn after the
/// handler (`web::error_pages::in_layout`) does not read the session's person again.
#[derive(Clone)]
struct Seen(Option<SignedIn>);

/// `Some` when this request already read who is signed in (`None` inside: nobody).
pub fn seen_signed_in(req: &HttpRequest) -> Option<Option<SignedIn>> {
    req.extensions().get::<Seen>().map(|seen| seen.0.clone())
}

async fn read_signed_in(req: HttpRequest) -> Result<SignedIn, HtmlError> {
    let state = AppState::of(&req)?;
    let session = req.get_session();
    let next = sign_in_target(&req);
    // A form sent with a session cookie that no longer signs in: the session ended
    // while its page was open.
    let had_session = [cookie_name(true), cookie_name(false)]
        .iter()
        .any(|name| req.cookie(name).is_some());
    let refused = |next| match req.method() != Method::GET && had_session {
        true => HtmlError::session_ended(next),
        false => HtmlError::sign_in(next),
    };
    let account_id = session.get::<String>(ACCOUNT_ID).ok().flatten();
    let csrf_token = csrf_token(&session);
    let (Some(account_id), Some(csrf_token)) = (account_id, csrf_token) else {
        return Err(refused(next));
    };
    // Written by `start` from the account's stored id.
    let account_id = crate::domain::AccountId::from_stored(account_id);
    let preferred = session.get::<String>(TENANT_ID).ok().flatten();
    // Written by `start` and `set_current_tenant` from stored tenant ids; one that is no
    // longer among the person's tenants is passed over.
    let wanted = preferred.clone().map(crate::domain::TenantId::from_stored);
    let url_slug = team_page_slug(req.path()).map(str::to_string);
    let may_skip_enrolment = two_factor::open_before_enrolment(req.path());
    let origin = origin(&session);
    let sso = state.sso.as_ref().map(|s| s.settings.clone());
    let (person, enrol_first, sso_refusal, outside_sso) = state
        .run(move |conn, now| {
            // Every tenant of the person's requires single sign-on: only a session through
            // the provider, younger than --oidc-session-hours, goes on. With only some,
            // the session goes on without them.
            let refusal =
                services_oidc::session_refusal(conn, now, &account_id, origin, sso.as_ref())?;
            if refusal.is_some() {
                return Ok((None, None, refusal, true));
            }
            let outside = services_oidc::outside_sso(now, origin, sso.as_ref());
            let person = sessions::signed_in_person(conn, &account_id, wanted.as_ref(), outside)?;
            // A Team page names its tenant in the URL: while you look at it, that
            // tenant is the current one (the switcher and Team menu follow it).
            let named = person.as_ref().and_then(|p| {
                let m = p
                    .tenants
                    .iter()
                    .find(|m| Some(&m.tenant.slug) == url_slug.as_ref())?;
                let current = p.current.as_ref().map(|c| c.tenant.id.as_str());
                (current != Some(m.tenant.id.as_str())).then(|| m.tenant.tenant_id())
            });
            let person = match named {
                Some(tenant_id) => {
                    sessions::signed_in_person(conn, &account_id, Some(&tenant_id), outside)?
                }
                None => person,
            };
            // A tenant that requires two-factor: its members without it enrol
            // before any other page.
            let enrol_first = match &person {
                Some(p) if !may_skip_enrolment => {
                    let ids: Vec<String> = p.tenants.iter().map(|m| m.tenant.id.clone()).collect();
                    services_two_factor::enrolment_required_by(conn, &account_id, &ids)?
                        .and_then(|id| p.tenants.iter().find(|m| m.tenant.id == id))
                        .map(|m| m.tenant.slug.clone())
                }
                _ => None,
            };
            Ok((person, enrol_first, None, outside))
        })
        .await?;
    if let Some(refusal) = sso_refusal {
        end(&session);
        return Err(HtmlError::go_first_to(format!(
            "/login?sso={}",
            refusal.code()
        )));
    }
    let Some(person) = person else {
        end(&session);
        return Err(refused(next));
    };
    // A page of a tenant that requires single sign-on, in a session outside it.
    let page_slug = req
        .path()
        .strip_prefix("/t/")
        .map(|rest| rest.split('/').next().unwrap_or_default());
    if let Some(m) = person
        .sso_only
        .iter()
        .find(|m| Some(m.tenant.slug.as_str()) == page_slug)
    {
        return Err(match &state.sso {
            Some(_) => HtmlError::go_first_to(format!(
                "/sign-in/oidc?{}",
                serde_urlencoded::to_string([("next", req.path())]).unwrap_or_default()
            )),
            None => HtmlError::from(AppError::forbidden(format!(
                "{} requires single sign-on, which this Keyward is not set up for just now: ask its operator",
                m.tenant.name
            ))),
        });
    }
    if let Some(slug) = enrol_first {
        return Err(HtmlError::go_first_to(two_factor::enrol_first_path(&slug)));
    }
    let current = person.current.as_ref().map(|m| m.tenant.id.clone());
    if current != preferred {
        match &current {
            Some(t) => session.insert(TENANT_ID, t).map_err(session_error)?,
            None => drop(session.remove(TENANT_ID)),
        }
    }
    Ok(SignedIn {
        person,
        csrf_token,
        ip: client_ip(&req, &state.settings),
        session,
        outside_sso,
    })
}

/// Makes `tenant_id` the session's current tenant.
pub fn set_current_tenant(session: &Session, tenant_id: &str) -> Result<(), AppError> {
    session.insert(TENANT_ID, tenant_id).map_err(session_error)
}
