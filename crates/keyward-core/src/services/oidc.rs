//! Single sign-on with OpenID Connect (issue 30): the Authorization Code flow with PKCE,
//! `state` and `nonce`; ID tokens checked against the provider's JWKS (fetched again once
//! when a token names a key it does not have: the provider rotated its keys), the issuer
//! exactly, this client as the audience, the expiry with 60 s of clock difference, the
//! nonce; and the linking rules:
//!
//! - a person is linked to the provider by (issuer, `sub`), never by email once linked;
//! - a first sign-in links to an existing account only when Keyward verified that
//!   account's email (a reset link mailed to it was used: `verified_emails`), and the ID
//!   token says `email_verified: true`; otherwise the person proves ownership once with the
//!   account's password (`confirm_link`), so nobody takes over an account by registering
//!   its email at the provider first (the class of Grafana's CVE-2023-3128);
//! - with no account, one is made only when `--oidc-allowed-domains` allows the email's
//!   domain; it joins `--oidc-default-tenant` if set, other tenants through invitations.
//!
//! A sign-in in progress lives in `oidc_flows`, keyed by the digest of a random cookie
//! value, and is taken (deleted) by the one callback that finishes it: any instance can
//! finish what another started, and a replayed or foreign callback fails. Nothing here
//! logs a token, a code, a verifier or a nonce.

use crate::config::OidcSettings;
use crate::db::models::oidc::{self as rows, OidcFlow, OidcIdentity, OidcPendingLink};
use crate::db::models::{Account, Membership, OutboxRow, Tenant};
use crate::db::{Database, DbConnection};
use crate::domain::{AuditAction, Clock, Email, Password, PersonName, TokenDigest};
use crate::error::AppError;
use crate::services::audit::{self, Event};
use crate::services::mail::{self, MailKind};
use crate::services::permissions::{self, Permission};
use crate::services::{outbox, run_blocking, sign_in, transaction, Actor};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims, CoreJwsSigningAlgorithm,
    CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};
use time::{Duration, PrimitiveDateTime};

/// How long a started sign-in (and a link waiting for a password) may take.
pub const FLOW_LIFETIME: Duration = Duration::minutes(10);
/// How long discovery (and the JWKS) is kept before it is read again.
const METADATA_TTL: StdDuration = StdDuration::from_secs(3600);
/// At most one extra discovery for an unknown signing key in this long.
const REFRESH_AT_MOST_EVERY: StdDuration = StdDuration::from_secs(30);
/// An ID token is accepted this long after its `exp` (clocks differ).
const CLOCK_SKEW: Duration = Duration::seconds(60);
/// The whole of one call to the provider, body included.
const PROVIDER_TIMEOUT: StdDuration = StdDuration::from_secs(10);
/// The most of a provider's answer read.
const MAX_ANSWER_BYTES: u64 = 512 * 1024;
/// Connecting to the provider.
const PROVIDER_CONNECT_TIMEOUT: StdDuration = StdDuration::from_secs(3);
/// After a failed discovery, answer "provider down" at once for this long (no caller
/// waits on a provider that just failed, and the blocking pool stays free).
const FAILURE_REMEMBERED: StdDuration = StdDuration::from_secs(30);
/// Calls to the provider at once, per instance; more are answered "provider down".
const MAX_PROVIDER_CALLS: usize = 4;
/// Sign-ins in progress started from one address group (an IPv4 address, an IPv6 /48):
/// one client cannot take the whole `MAX_FLOWS` from everybody else. A finished sign-in
/// no longer counts, so an office behind one address is not held back by its own people.
pub const MAX_FLOWS_PER_ADDRESS: i64 = 30;
/// The only ID-token signatures accepted: asymmetric ones (never HMAC keyed with the
/// client secret, which would let whoever holds the secret mint ID tokens).
const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 10] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EcdsaP521Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// Why a sign-in through the provider did not happen, in words for its page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SsoFailure {
    /// Discovery, the JWKS or the token endpoint could not be reached or read.
    ProviderDown,
    /// No sign-in in progress for this browser: never started here, finished already, or
    /// older than 10 minutes.
    NoSignInInProgress,
    /// The provider sent the person back with an error (consent denied, …).
    Denied(String),
    /// The provider's answer failed a check (state, code, ID token); the reason is for
    /// the log, the person reads a general sentence.
    Refused(String),
    /// The ID token's email is missing or not verified by the provider.
    EmailNotVerified,
    /// No Keyward account has this email and its domain may not create one.
    NoAccount,
    /// `--oidc-allowed-domains` is set and does not list the email's domain: no account
    /// of that domain is linked to the provider either.
    DomainNotAllowed,
    /// The linked account no longer exists or cannot sign in this way.
    AccountUnavailable,
    /// Too many sign-ins started from this client's address are in progress.
    TooManyFromHere,
    /// The client's address is unknown (no peer address): it has no share of the limit.
    NoClientAddress,
    /// Keyward's own database did not answer (a lock wait, a lost connection): nothing
    /// about the provider; try again.
    Busy,
    /// The account links only with its password (its link was removed before, or Keyward
    /// never verified its email), and it has none.
    NeedsPasswordToLink,
}

impl SsoFailure {
    /// What the person reads.
    pub fn message(&self, provider: &str) -> String {
        match self {
            SsoFailure::ProviderDown => format!("{provider} cannot be reached just now, so Keyward could not finish signing you in. Try again in a minute, or sign in with your password if your team does not require single sign-on."),
            SsoFailure::NoSignInInProgress => "This sign-in was not started in this browser, was already used, or took longer than 10 minutes. Start again from the sign-in page.".into(),
            SsoFailure::Denied(why) => format!("{provider} did not sign you in ({why}). Start again from the sign-in page, or sign in with your password if your team does not require single sign-on."),
            SsoFailure::Refused(_) => format!("Keyward could not check the answer from {provider}, so you are not signed in. Start again from the sign-in page."),
            SsoFailure::EmailNotVerified => format!("{provider} did not say that your email address is verified, so Keyward cannot tell which account is yours. Verify your address there, or sign in with your password if your team does not require single sign-on."),
            SsoFailure::NoAccount => "There is no Keyward account for your email address. Ask an admin of your team for an invitation.".into(),
            SsoFailure::DomainNotAllowed => format!("This Keyward accepts sign-ins through {provider} only for some email domains, and yours is not one of them. Sign in with your password if your team does not require single sign-on; otherwise ask this Keyward's operator."),
            SsoFailure::AccountUnavailable => "The Keyward account linked to your identity cannot sign in. Ask an admin of your team.".into(),
            SsoFailure::TooManyFromHere => format!("Too many sign-ins through {provider} were started from your network in the last 10 minutes without being finished. Finish one you started, or try again in a few minutes."),
            SsoFailure::NoClientAddress => format!("Keyward cannot tell which network your request came from, so it does not start a sign-in through {provider}. Ask this Keyward's operator (its proxy settings)."),
            SsoFailure::Busy => "Keyward is busy just now and could not go on with your sign-in. Try again in a moment; if you were coming back from your identity provider, start again from the sign-in page.".into(),
            SsoFailure::NeedsPasswordToLink => format!("Your Keyward account links to {provider} only with its password (a link of it was removed before, or Keyward never verified its email address), and it has no password. Set one with \"Forgot your password?\" on the sign-in page, then sign in with {provider} again."),
        }
    }

    /// The page's status.
    pub fn status(&self) -> u16 {
        match self {
            SsoFailure::ProviderDown => 502,
            SsoFailure::Busy => 503,
            SsoFailure::TooManyFromHere => 429,
            SsoFailure::NoAccount
            | SsoFailure::NeedsPasswordToLink
            | SsoFailure::DomainNotAllowed
            | SsoFailure::AccountUnavailable => 403,
            _ => 400,
        }
    }
}

/// The provider and this client, with discovery kept for an hour.
pub struct Sso {
    pub settings: OidcSettings,
    agent: ureq::Agent,
    metadata: Mutex<Option<(Instant, CoreProviderMetadata)>>,
    last_forced: Mutex<Option<Instant>>,
    last_failure: Mutex<Option<Instant>>,
    calls: AtomicUsize,
    /// The Unix second of the last sweep of expired flows (at most one a minute).
    last_sweep: AtomicI64,
}

impl std::fmt::Debug for Sso {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sso")
            .field("issuer", &self.settings.issuer)
            .finish_non_exhaustive()
    }
}

/// One HTTP call for openidconnect, through ureq: no redirects followed, no proxy from
/// the environment, 10 s for the whole call, at most 512 KiB read.
fn call(
    agent: &ureq::Agent,
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, ureq::Error> {
    let response = agent.run(request)?;
    let (parts, mut body) = response.into_parts();
    let bytes = body.with_config().limit(MAX_ANSWER_BYTES).read_to_vec()?;
    Ok(openidconnect::http::Response::from_parts(parts, bytes))
}

/// What `begin` hands the browser and stores.
pub struct Begun {
    pub authorize_url: String,
    state: String,
    nonce: String,
    verifier: String,
}

/// The checked identity from an ID token.
#[derive(Debug, Clone)]
pub struct ProvenIdentity {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
}

impl Sso {
    pub fn new(settings: OidcSettings) -> Arc<Self> {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .timeout_global(Some(PROVIDER_TIMEOUT))
            .timeout_connect(Some(PROVIDER_CONNECT_TIMEOUT))
            .user_agent(concat!("keyward/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Arc::new(Self {
            settings,
            agent,
            metadata: Mutex::new(None),
            last_forced: Mutex::new(None),
            last_failure: Mutex::new(None),
            calls: AtomicUsize::new(0),
            last_sweep: AtomicI64::new(0),
        })
    }

    fn http(
        &self,
    ) -> impl Fn(openidconnect::HttpRequest) -> Result<openidconnect::HttpResponse, ureq::Error> + '_
    {
        move |request| call(&self.agent, request)
    }

    /// The discovery kept, while it is less than an hour old.
    fn fresh_metadata(&self) -> Option<CoreProviderMetadata> {
        let cached = self.metadata.lock().unwrap_or_else(|e| e.into_inner());
        match &*cached {
            Some((at, md)) if at.elapsed() < METADATA_TTL => Some(md.clone()),
            _ => None,
        }
    }

    /// Discovery (with the JWKS): kept for an hour; `fresh` reads it again (at most once in
    /// 30 s), for a key the cached set does not have.
    fn provider(&self, fresh: bool) -> Result<CoreProviderMetadata, SsoFailure> {
        let cached = self
            .metadata
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if !fresh {
            if let Some((at, md)) = &cached {
                if at.elapsed() < METADATA_TTL {
                    return Ok(md.clone());
                }
            }
            let failed = *self.last_failure.lock().unwrap_or_else(|e| e.into_inner());
            if failed.is_some_and(|at| at.elapsed() < FAILURE_REMEMBERED) {
                // Stale discovery beats none while the provider is failing.
                return cached.map(|(_, md)| md).ok_or(SsoFailure::ProviderDown);
            }
        } else {
            let mut last = self.last_forced.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|at| at.elapsed() < REFRESH_AT_MOST_EVERY) {
                return Err(SsoFailure::Refused(
                    "the ID token names a signing key the provider does not publish".into(),
                ));
            }
            *last = Some(Instant::now());
        }
        let issuer =
            IssuerUrl::new(self.settings.issuer.clone()).map_err(|_| SsoFailure::ProviderDown)?;
        let md = match CoreProviderMetadata::discover(&issuer, &self.http()) {
            Ok(md) => md,
            Err(e) => {
                tracing::warn!(issuer = %self.settings.issuer, error = %e, "OpenID provider discovery failed");
                *self.last_failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
                // A failed refresh keeps the discovery it had (not for a forced one: that
                // is looking for a key the cached set lacks).
                return match cached {
                    Some((_, md)) if !fresh => Ok(md),
                    _ => Err(SsoFailure::ProviderDown),
                };
            }
        };
        if let Some(endpoint) = plain_http_endpoint(&self.settings.issuer, &md) {
            tracing::error!(issuer = %self.settings.issuer, endpoint = %endpoint, "the OpenID provider's discovery names a plain-http endpoint: refused (codes, tokens and keys must travel over https; plain http only when the issuer is on this machine's loopback)");
            *self.last_failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
            return Err(SsoFailure::ProviderDown);
        }
        *self.metadata.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), md.clone()));
        Ok(md)
    }

    fn client(
        &self,
        md: CoreProviderMetadata,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        SsoFailure,
    > {
        let redirect = RedirectUrl::new(self.settings.redirect_url.clone())
            .map_err(|e| SsoFailure::Refused(format!("the redirect URL is not valid: {e}")))?;
        Ok(CoreClient::from_provider_metadata(
            md,
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(
                self.settings.client_secret.expose().to_string(),
            )),
        )
        .set_redirect_uri(redirect))
    }

    /// The provider's authorization URL with a fresh `state`, `nonce` and PKCE challenge.
    /// Blocking (discovery).
    pub fn begin(&self) -> Result<Begun, SsoFailure> {
        // A turn only when the provider is called: a start with discovery at hand calls
        // nobody, and is not refused as "provider down" because others are starting too.
        let md = match self.fresh_metadata() {
            Some(md) => md,
            None => {
                let _turn = ProviderTurn::take(&self.calls).ok_or(SsoFailure::ProviderDown)?;
                self.provider(false)?
            }
        };
        let client = self.client(md)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        Ok(Begun {
            authorize_url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges the code (with the verifier) and checks the ID token. Blocking.
    pub fn redeem(
        &self,
        flow: &OidcFlow,
        code: &str,
        now: PrimitiveDateTime,
    ) -> Result<ProvenIdentity, SsoFailure> {
        let _turn = ProviderTurn::take(&self.calls).ok_or(SsoFailure::ProviderDown)?;
        let md = self.provider(false)?;
        let client = self.client(md)?;
        let request = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|_| SsoFailure::Refused("the provider has no token endpoint".into()))?
            .set_pkce_verifier(PkceCodeVerifier::new(flow.pkce_verifier.clone()));
        let http = self.http();
        let tokens = request.request(&http).map_err(|e| match e {
            openidconnect::RequestTokenError::Request(e) => {
                tracing::warn!(issuer = %self.settings.issuer, error = %e, "the OpenID provider's token endpoint could not be reached");
                SsoFailure::ProviderDown
            }
            other => SsoFailure::Refused(format!("the token endpoint refused the code: {other}")),
        })?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| SsoFailure::Refused("the token answer has no ID token".into()))?
            .clone();
        let nonce = Nonce::new(flow.nonce.clone());
        let checked_at = chrono_from(now - CLOCK_SKEW)?;
        let verify = |client: &CoreClient<_, _, _, _, _, _>| -> Result<CoreIdTokenClaims, ClaimsVerificationError> {
            let at = checked_at;
            let verifier = client
                .id_token_verifier()
                .set_allowed_algs(ALLOWED_ALGS)
                .set_time_fn(move || at);
            id_token.claims(&verifier, &nonce).cloned()
        };
        let claims = match verify(&client) {
            Ok(claims) => claims,
            // A key the cached JWKS does not have: the provider rotated; read it again once.
            Err(ClaimsVerificationError::SignatureVerification(_)) => {
                let client = self.client(self.provider(true)?)?;
                verify(&client).map_err(|e| SsoFailure::Refused(format!("the ID token: {e}")))?
            }
            Err(e) => return Err(SsoFailure::Refused(format!("the ID token: {e}"))),
        };
        let name = claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_string());
        Ok(ProvenIdentity {
            subject: claims.subject().as_str().to_string(),
            email: claims.email().map(|e| e.as_str().to_string()),
            email_verified: claims.email_verified().unwrap_or(false),
            name,
        })
    }
}

/// The first endpoint of the discovery that is not https: plain http is let through only
/// to an endpoint on this machine's loopback, and only when the issuer is on loopback too
/// (tests, a provider beside Keyward). A provider's discovery that sends the code, the
/// client secret or the signing keys over plain http elsewhere is refused, as the issuer
/// is (`config::oidc::resolve`).
fn plain_http_endpoint(issuer: &str, md: &CoreProviderMetadata) -> Option<String> {
    let on_loopback = |u: &openidconnect::url::Url| match u.host() {
        Some(openidconnect::url::Host::Domain(d)) => d == "localhost",
        Some(openidconnect::url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(openidconnect::url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    let issuer_on_loopback = openidconnect::url::Url::parse(issuer).is_ok_and(|u| on_loopback(&u));
    let endpoints = [
        Some(md.authorization_endpoint().url()),
        md.token_endpoint().map(|e| e.url()),
        Some(md.jwks_uri().url()),
        md.userinfo_endpoint().map(|e| e.url()),
    ];
    endpoints
        .into_iter()
        .flatten()
        .find(|url| url.scheme() != "https" && !(issuer_on_loopback && on_loopback(url)))
        .map(|url| url.to_string())
}

fn chrono_from(at: PrimitiveDateTime) -> Result<chrono::DateTime<chrono::Utc>, SsoFailure> {
    let t = at.assume_utc();
    chrono::DateTime::from_timestamp(t.unix_timestamp(), t.nanosecond())
        .ok_or_else(|| SsoFailure::Refused("the clock is out of range".into()))
}

/// A turn at calling the provider, or `None` when `MAX_PROVIDER_CALLS` are under way.
struct ProviderTurn<'a>(&'a AtomicUsize);

impl<'a> ProviderTurn<'a> {
    fn take(calls: &'a AtomicUsize) -> Option<Self> {
        let before = calls.fetch_add(1, Ordering::SeqCst);
        let turn = ProviderTurn(calls);
        (before < MAX_PROVIDER_CALLS).then_some(turn)
    }
}

impl Drop for ProviderTurn<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn random_cookie_value() -> String {
    crate::domain::api_key::random_secret(43)
}

/// A started sign-in: where to send the browser, and the cookie value it keeps.
pub struct Started {
    pub authorize_url: String,
    pub cookie_value: String,
}

/// Starts a sign-in: discovery (off the executor), then the flow's row. `next` must
/// already be a local path.
pub async fn start(
    db: &Database,
    clock: &Clock,
    sso: Arc<Sso>,
    next: String,
    ip: Option<&str>,
) -> Result<Started, SsoFailure> {
    // No address, no share of the limit: pooling such clients under one name would let
    // one of them refuse everybody else's sign-ins.
    let ip = ip.ok_or(SsoFailure::NoClientAddress)?;
    let client_group = crate::domain::wide_address_group(ip);
    let counted_group = client_group.clone();
    let busy = run_blocking(db, clock, move |conn, now| {
        Ok(OidcFlow::count_from(conn, &counted_group, now)? >= MAX_FLOWS_PER_ADDRESS)
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "cannot count single sign-on flows");
        SsoFailure::Busy
    })?;
    if busy {
        tracing::warn!(
            max = MAX_FLOWS_PER_ADDRESS,
            "single sign-on: too many sign-ins in progress from one address"
        );
        return Err(SsoFailure::TooManyFromHere);
    }
    let begin_sso = sso.clone();
    let begun = tokio::task::spawn_blocking(move || begin_sso.begin())
        .await
        .map_err(|_| SsoFailure::ProviderDown)??;
    let cookie_value = random_cookie_value();
    let digest = TokenDigest::of(&cookie_value).as_str().to_string();
    let Begun {
        authorize_url,
        state,
        nonce,
        verifier,
    } = begun;
    let now_second = clock.now().assume_utc().unix_timestamp();
    let last = sso.last_sweep.load(Ordering::Relaxed);
    let sweep = now_second - last >= 60
        && sso
            .last_sweep
            .compare_exchange(last, now_second, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok();
    let max_flows = sso.settings.max_flows;
    let stored = run_blocking(db, clock, move |conn, now| {
        if sweep {
            OidcFlow::sweep(conn, now)?;
            OidcPendingLink::sweep(conn, now)?;
        }
        // Counted and added in one serialised transaction: racing starts see each other.
        transaction(conn, |conn| {
            crate::db::lock_oidc_flows(conn)?;
            if OidcFlow::count_from(conn, &client_group, now)? >= MAX_FLOWS_PER_ADDRESS {
                return Ok(Err(SsoFailure::TooManyFromHere));
            }
            if OidcFlow::count(conn)? >= max_flows {
                make_room(conn, now, max_flows)?;
            }
            OidcFlow {
                cookie_digest: digest,
                state,
                nonce,
                pkce_verifier: verifier,
                next_path: next,
                created_at: now,
                expires_at: now + FLOW_LIFETIME,
                client_group: client_group.clone(),
            }
            .insert(conn)?;
            Ok(Ok(()))
        })
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "cannot store a single sign-on flow");
        SsoFailure::Busy
    })?;
    if let Err(refused) = stored {
        tracing::warn!(
            max_per_address = MAX_FLOWS_PER_ADDRESS,
            "single sign-on: too many sign-ins in progress from one address"
        );
        return Err(refused);
    }
    Ok(Started {
        authorize_url,
        cookie_value,
    })
}

/// Makes room for one more flow in a full table (`max_flows`): expired flows go first;
/// then the address group with the most flows in progress gives up its oldest. One
/// address group holds at most `MAX_FLOWS_PER_ADDRESS`, so whoever fills the table from
/// many addresses loses their own flows first, and a person's one start (a group of one)
/// is evicted only when every group is down to one flow: nobody is refused a start
/// because others filled the table, where refusing would let a few hundred addresses
/// deny everybody's sign-ins.
fn make_room(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    max_flows: i64,
) -> Result<(), AppError> {
    OidcFlow::sweep(conn, now)?;
    let mut over = OidcFlow::count(conn)? - max_flows + 1;
    // Bounded: each round deletes at least one flow, or stops.
    while over > 0 {
        let evicted = OidcFlow::evict_from_largest_group(conn, over)?;
        if evicted == 0 {
            break;
        }
        tracing::warn!(
            evicted,
            max = max_flows,
            "single sign-on: the table of sign-ins in progress is full; the oldest of the address group with the most were evicted"
        );
        over -= evicted as i64;
    }
    Ok(())
}

/// What the provider sent back to the callback.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(default)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// How a finished sign-in ends.
#[derive(Debug)]
pub enum Finished {
    /// Signed in at `at`: start a session for the account, signed in at that time (a
    /// removal of its links recorded since then ends it, see `session_refusal`), and go
    /// to `next`.
    SignedIn {
        account: Account,
        next: String,
        at: PrimitiveDateTime,
    },
    /// An existing account whose email Keyward never verified: its password links it once.
    /// The browser keeps `cookie_value` for `confirm_link`.
    NeedsPassword { email: String, cookie_value: String },
}

/// Finishes a sign-in: takes the flow (once), checks the provider's answer, then links or
/// makes the account. `cookie_value` is the browser's flow cookie.
pub async fn finish(
    db: &Database,
    clock: &Clock,
    sso: Arc<Sso>,
    cookie_value: Option<String>,
    callback: Callback,
    ip: String,
) -> Result<Finished, SsoFailure> {
    let cookie_value = cookie_value.ok_or(SsoFailure::NoSignInInProgress)?;
    let digest = TokenDigest::of(&cookie_value).as_str().to_string();
    let flow = run_blocking(db, clock, move |conn, now| {
        Ok(OidcFlow::take(conn, &digest)?.filter(|f| f.expires_at > now))
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "cannot read a single sign-on flow");
        SsoFailure::Busy
    })?
    .ok_or(SsoFailure::NoSignInInProgress)?;
    let state_ok = callback
        .state
        .as_deref()
        .is_some_and(|s| constant_time_eq(s.as_bytes(), flow.state.as_bytes()));
    if let Some(error) = callback.error.as_deref() {
        if !state_ok {
            return Err(SsoFailure::NoSignInInProgress);
        }
        let why: String = match error {
            "access_denied" => "access was denied".into(),
            "login_required" | "interaction_required" => "you are not signed in there".into(),
            other => other
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .take(60)
                .collect(),
        };
        return Err(SsoFailure::Denied(why));
    }
    if !state_ok {
        return Err(SsoFailure::Refused(
            "the state does not match the sign-in started in this browser".into(),
        ));
    }
    let code = callback
        .code
        .filter(|c| !c.is_empty() && c.len() <= 2048)
        .ok_or_else(|| SsoFailure::Refused("the callback has no code".into()))?;
    let now = clock.now();
    let redeem_sso = sso.clone();
    let redeem_flow = flow.clone();
    let proven = tokio::task::spawn_blocking(move || redeem_sso.redeem(&redeem_flow, &code, now))
        .await
        .map_err(|_| SsoFailure::ProviderDown)??;
    let settings = sso.settings.clone();
    let next = flow.next_path.clone();
    run_blocking(db, clock, move |conn, now| {
        Ok(link_or_make(conn, now, &settings, proven, next, &ip))
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "cannot finish a single sign-on");
        SsoFailure::Busy
    })?
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The linking rules, in one transaction.
fn link_or_make(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    settings: &OidcSettings,
    proven: ProvenIdentity,
    next: String,
    ip: &str,
) -> Result<Finished, SsoFailure> {
    // A refusal rolls back whatever was written before it (an account made for a
    // default tenant that is not there, say): only a sign-in or a waiting link commits.
    let mut refusal = None;
    let result = transaction(conn, |conn| {
        link_or_make_within(conn, now, settings, &proven, next, ip).map_err(|failure| {
            refusal = Some(failure);
            AppError::internal("the single sign-on was refused: rolled back")
        })
    });
    match (result, refusal) {
        (Ok(finished), _) => Ok(finished),
        (Err(_), Some(failure)) => Err(failure),
        (Err(e), None) => {
            tracing::error!(error = %e, "single sign-on: the database refused");
            Err(SsoFailure::Busy)
        }
    }
}

fn link_or_make_within(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    settings: &OidcSettings,
    proven: &ProvenIdentity,
    next: String,
    ip: &str,
) -> Result<Finished, SsoFailure> {
    let db_err = |e: diesel::result::Error| {
        tracing::error!(error = %e, "single sign-on: the database refused");
        SsoFailure::Busy
    };
    let how = format!(
        "signed in through {} (single sign-on)",
        settings.display_name
    );
    // Linked before: the (issuer, sub) pair decides, whatever the email says now.
    if let Some(identity) =
        OidcIdentity::find(conn, &settings.issuer, &proven.subject).map_err(db_err)?
    {
        let account = Account::find(conn, &identity.account_id)
            .map_err(db_err)?
            .filter(|a| !a.is_service_account())
            .ok_or(SsoFailure::AccountUnavailable)?;
        // Unlinked since it was read (by its owner, an operator or a password reset):
        // the link is gone, so is the sign-in.
        if OidcIdentity::touch(conn, &settings.issuer, &proven.subject, now).map_err(db_err)? == 0 {
            return Err(SsoFailure::AccountUnavailable);
        }
        audit_sign_in(conn, now, &account, ip, &how)?;
        return Ok(Finished::SignedIn {
            account,
            next,
            at: now,
        });
    }
    let verified = proven.email_verified || settings.trust_unverified_email;
    let email = match proven.email.as_deref().map(Email::parse) {
        Some(Ok(email)) if verified => email,
        _ => return Err(SsoFailure::EmailNotVerified),
    };
    let email = email.into_inner();
    let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    let domain_allowed = settings.allowed_domains.iter().any(|d| d == domain);
    // With allowed domains set, they bound linking too: a provider that lets anyone
    // sign in (Google) cannot link an account of another domain by its email.
    if !settings.allowed_domains.is_empty() && !domain_allowed {
        return Err(SsoFailure::DomainNotAllowed);
    }
    let link = |conn: &mut DbConnection, account: &Account| -> Result<(), SsoFailure> {
        OidcIdentity {
            issuer: settings.issuer.clone(),
            subject: proven.subject.clone(),
            account_id: account.id.clone(),
            created_at: now,
            last_sign_in_at: now,
        }
        .insert(conn)
        .map_err(db_err)
    };
    match Account::find_by_email(conn, &email).map_err(db_err)? {
        Some(account) if account.is_service_account() => Err(SsoFailure::AccountUnavailable),
        Some(account) => {
            // An account that asks for a code is never linked by its email alone: its
            // password and a code link it (`confirm_link`), both factors proven.
            let two_factor =
                crate::db::models::two_factor::TwoFactorRow::is_enabled(conn, &account.id)
                    .map_err(db_err)?;
            let keyward_verified = rows::verified_email(conn, &account.id)
                .map_err(db_err)?
                .is_some_and(|v| v == email);
            // A link its owner (or an operator) removed is not made again by the email:
            // whoever it was removed from would otherwise get it back by signing in.
            let removed_before = rows::link_was_removed(conn, &account.id).map_err(db_err)?;
            if keyward_verified
                && !two_factor
                && !removed_before
                && !OidcIdentity::linked(conn, &settings.issuer, &account.id).map_err(db_err)?
            {
                link(conn, &account)?;
                // A removal committed between the read above and `linked` (PostgreSQL reads
                // each statement afresh) is seen now: the link rolls back, and the next
                // sign-in asks for the password.
                if rows::link_was_removed(conn, &account.id).map_err(db_err)? {
                    return Err(SsoFailure::Busy);
                }
                notify_linked(
                    conn,
                    now,
                    &account,
                    settings,
                    "by your email address, which Keyward verified",
                )
                .map_err(|e| {
                    tracing::error!(error = %e, "single sign-on: cannot queue the link notice");
                    SsoFailure::Busy
                })?;
                audit_sign_in(
                    conn,
                    now,
                    &account,
                    ip,
                    &format!("{how}; linked to the provider's identity by its verified email"),
                )?;
                return Ok(Finished::SignedIn {
                    account,
                    next,
                    at: now,
                });
            }
            if account.password_hash.is_none() {
                return Err(SsoFailure::NeedsPasswordToLink);
            }
            // Not proven by Keyward (or two-factor on): the account's password (and a
            // code) proves it, once.
            let cookie_value = random_cookie_value();
            OidcPendingLink {
                cookie_digest: TokenDigest::of(&cookie_value).as_str().to_string(),
                issuer: settings.issuer.clone(),
                subject: proven.subject.clone(),
                account_id: account.id.clone(),
                next_path: next,
                expires_at: now + FLOW_LIFETIME,
            }
            .insert(conn)
            .map_err(db_err)?;
            Ok(Finished::NeedsPassword {
                email,
                cookie_value,
            })
        }
        None => {
            if !domain_allowed {
                return Err(SsoFailure::NoAccount);
            }
            let name = proven
                .name
                .as_deref()
                .and_then(|n| PersonName::parse(n).ok())
                .or_else(|| PersonName::parse(email.split('@').next().unwrap_or("person")).ok())
                .ok_or(SsoFailure::NoAccount)?;
            let account = make_account(conn, now, settings, &email, name)?;
            link(conn, &account)?;
            audit_sign_in(
                conn,
                now,
                &account,
                ip,
                &format!("{how}; account made at the first sign-in"),
            )?;
            Ok(Finished::SignedIn {
                account,
                next,
                at: now,
            })
        }
    }
}

/// A person account without a password, joined to the default tenant if one is set.
fn make_account(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    settings: &OidcSettings,
    email: &str,
    name: PersonName,
) -> Result<Account, SsoFailure> {
    let fail = |e: AppError| {
        tracing::error!(error = %e, "single sign-on: cannot make the account");
        SsoFailure::AccountUnavailable
    };
    let actor = Actor::operator();
    let account = crate::services::accounts::insert_user_without_password(
        conn,
        &actor,
        now,
        Email::parse(email).map_err(|_| SsoFailure::EmailNotVerified)?,
        name,
    )
    .map_err(fail)?;
    if let Some(slug) = &settings.default_tenant {
        let tenant = Tenant::find_by_slug(conn, slug.as_str())
            .map_err(|e| fail(e.into()))?
            .ok_or_else(|| {
                tracing::error!(tenant = %slug.as_str(), "--oidc-default-tenant names no tenant");
                SsoFailure::AccountUnavailable
            })?;
        crate::services::members::insert_membership(
            conn,
            &actor,
            now,
            &crate::domain::TenantId::from_stored(tenant.id.clone()),
            &crate::domain::AccountId::from_stored(account.id.clone()),
            settings.default_role,
            AuditAction::MemberAdded,
        )
        .map_err(fail)?;
    }
    Ok(account)
}

/// Link notices one address gets in a day at most (a link needs a sign-in at the
/// provider, and after a removal the account's password, so these are few; the bound
/// keeps the outbox bounded whatever happens).
pub const LINK_NOTICES_PER_ADDRESS_PER_DAY: i64 = 10;

/// Queues, in the link's transaction, the mail that tells the account's owner an identity
/// at the provider now signs in to their account (`how`: "with the account's password",
/// …), and how to remove it. No code, token or link in it (not even the issuer's URL: links
/// in mail come from `--public-url` only): the provider's name and the time.
fn notify_linked(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    account: &Account,
    settings: &OidcSettings,
    how: &str,
) -> Result<(), AppError> {
    let Some(address) = account.email.as_deref() else {
        return Ok(());
    };
    let kind = MailKind::SsoLinked.as_str();
    let sent = OutboxRow::count_to_since(conn, address, &[kind], now - Duration::days(1))?;
    if sent >= LINK_NOTICES_PER_ADDRESS_PER_DAY {
        tracing::warn!(account_id = %account.id, "a single sign-on link notice was skipped: its recipient had the day's notices already");
        return Ok(());
    }
    let body = format!(
        "Hello,\n\n\
         An identity at {provider} was linked to your Keyward account: signing in there now \
         signs you in to Keyward.\n\n\
         Provider: {provider}\n\
         Linked:   {at}, {how}\n\n\
         If this was you, there is nothing to do. If it was not, remove the link on the \
         dashboard (User › Single sign-on; every session of your account ends with it), \
         change your password, and tell an admin of your team. While a tenant of yours \
         requires single sign-on, your last link to the provider cannot be removed there: \
         ask an operator of Keyward to remove it (keyward admin remove-sso-link).\n",
        provider = mail::quoted(&settings.display_name),
        at = crate::services::key_notices::when(now),
    );
    outbox::enqueue(
        conn,
        now,
        outbox::NewMessage {
            kind,
            tenant_id: None,
            about_id: Some(account.id.clone()),
            recipient: address.to_string(),
            payload: body,
        },
    )?;
    Ok(())
}

fn audit_sign_in(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    account: &Account,
    ip: &str,
    detail: &str,
) -> Result<(), SsoFailure> {
    sign_in::audit_in_every_tenant(conn, now, account, ip, AuditAction::SignInSucceeded, || {
        detail.to_string()
    })
    .map_err(|e| {
        tracing::error!(error = %e, "single sign-on: cannot audit the sign-in");
        SsoFailure::Busy
    })
}

/// A link waiting for the account's password, as its page shows it.
#[derive(Debug, Clone)]
pub struct PendingLink {
    pub email: String,
    /// The account has two-factor on: the page asks for a code too.
    pub needs_code: bool,
    /// A link of the account was removed before, so its email alone links nothing.
    pub removed_before: bool,
}

/// The link waiting for a password that `cookie_value` names, if it is live.
pub async fn pending_link(
    db: &Database,
    clock: &Clock,
    cookie_value: String,
) -> Result<Option<PendingLink>, AppError> {
    run_blocking(db, clock, move |conn, now| {
        let digest = TokenDigest::of(&cookie_value).as_str().to_string();
        let Some(link) = OidcPendingLink::find(conn, &digest)?.filter(|l| l.expires_at > now)
        else {
            return Ok(None);
        };
        let Some(email) = Account::find(conn, &link.account_id)?.and_then(|a| a.email) else {
            return Ok(None);
        };
        let needs_code =
            crate::db::models::two_factor::TwoFactorRow::is_enabled(conn, &link.account_id)?;
        let removed_before = rows::link_was_removed(conn, &link.account_id)?;
        Ok(Some(PendingLink {
            email,
            needs_code,
            removed_before,
        }))
    })
    .await
}

/// What the person types on the link page.
pub struct LinkProof {
    pub password: Password,
    /// An authenticator or recovery code; empty when the account has two-factor off.
    pub code: String,
}

/// Refuses a waiting link whose identity, or whose account at that issuer, is linked
/// already (one identity per account and provider).
fn refuse_if_linked(conn: &mut DbConnection, link: &OidcPendingLink) -> Result<(), AppError> {
    if OidcIdentity::find(conn, &link.issuer, &link.subject)?.is_some()
        || OidcIdentity::linked(conn, &link.issuer, &link.account_id)?
    {
        return Err(AppError::Conflict(
            "this account is already linked to the identity provider: sign in with it".into(),
        ));
    }
    Ok(())
}

const LINK_GONE: &str =
    "this link to your identity provider has expired or was used; start again from the sign-in page";

/// Links the waiting identity when `password` is the account's and, for an account with
/// two-factor on, `code` is one of its codes (both factors proven, as a sign-in does):
/// counted and limited as a password sign-in and its code step (the same lockouts), then
/// the link is used up and the person signed in; the account, where to go and the time of
/// the sign-in.
pub async fn confirm_link(
    db: &Database,
    clock: &Clock,
    sso: Arc<Sso>,
    keys: Arc<crate::services::sealing::SealingKeys>,
    cookie_value: String,
    proof: LinkProof,
    ip: String,
) -> Result<(Account, String, PrimitiveDateTime), AppError> {
    let LinkProof { password, code } = proof;
    let digest = TokenDigest::of(&cookie_value).as_str().to_string();
    let lookup = digest.clone();
    let email = run_blocking(db, clock, move |conn, now| {
        let link = OidcPendingLink::find(conn, &lookup)?
            .filter(|l| l.expires_at > now)
            .ok_or_else(|| AppError::not_found(LINK_GONE))?;
        Account::find(conn, &link.account_id)?
            .and_then(|a| a.email)
            .ok_or_else(|| AppError::not_found("the account no longer exists"))
    })
    .await?;
    // The password step of a sign-in: the same counting, lockouts and audit.
    let account = crate::services::password_checks::sign_in_with_password(
        db,
        clock,
        email,
        ip.clone(),
        None,
        password,
        sign_in::PasswordUse::LinkProvider,
    )
    .await?;
    // The code step, outside the linking transaction: a wrong code stays counted. The
    // link's refusals come first, so a recovery code is not spent on a link that fails.
    let (checked, code_ip, pending) = (account.clone(), ip.clone(), digest.clone());
    let by_code = run_blocking(db, clock, move |conn, now| {
        let link = OidcPendingLink::find(conn, &pending)?
            .filter(|l| l.expires_at > now && l.account_id == checked.id)
            .ok_or_else(|| AppError::not_found(LINK_GONE))?;
        refuse_if_linked(conn, &link)?;
        if !crate::db::models::two_factor::TwoFactorRow::is_enabled(conn, &checked.id)? {
            return Ok(false);
        }
        if code.trim().is_empty() {
            return Err(AppError::unauthenticated(
                "this account has two-factor authentication on: enter a code from your authenticator app (or a recovery code) with the password",
            ));
        }
        crate::services::two_factor::check_code(conn, now, &keys, &checked, &code, &code_ip)?;
        Ok(true)
    })
    .await?;
    let display = sso.settings.display_name.clone();
    run_blocking(db, clock, move |conn, now| {
        transaction(conn, |conn| {
            let link = OidcPendingLink::find(conn, &digest)?
                .filter(|l| l.expires_at > now && l.account_id == account.id)
                .ok_or_else(|| AppError::not_found(LINK_GONE))?;
            if OidcPendingLink::take(conn, &digest)? != 1 {
                return Err(AppError::not_found("this link was already used"));
            }
            // Two-factor turned on since the code step: a password alone never links.
            if !by_code
                && crate::db::models::two_factor::TwoFactorRow::is_enabled(conn, &account.id)?
            {
                return Err(AppError::not_found(
                    "two-factor authentication was turned on for this account meanwhile; start again from the sign-in page",
                ));
            }
            // Linked meanwhile (another tab): one identity per account and provider.
            refuse_if_linked(conn, &link)?;
            OidcIdentity {
                issuer: link.issuer.clone(),
                subject: link.subject.clone(),
                account_id: account.id.clone(),
                created_at: now,
                last_sign_in_at: now,
            }
            .insert(conn)?;
            let proof = match by_code {
                true => "the account's password and a two-factor code",
                false => "the account's password",
            };
            let settings = &sso.settings;
            notify_linked(conn, now, &account, settings, &format!("with {proof}"))?;
            let actor = Actor::person(account.id.clone(), Some(ip.clone()), crate::services::SingleSignOn::Satisfied);
            for (tenant, _) in Membership::tenants_of(conn, &account.id)? {
                audit::record(
                    conn,
                    &actor,
                    now,
                    Event {
                        tenant_id: Some(&tenant.id),
                        action: AuditAction::SignInSucceeded,
                        target_id: Some(&account.id),
                        detail: format!("linked to {display} (single sign-on) with {proof}"),
                    },
                )?;
            }
            Ok((account, link.next_path, now))
        })
    })
    .await
}

// ---- tenants that require single sign-on ----
//
// The requirement is the tenant's (as GitLab's SAML-enforced groups): a dashboard session
// not opened through the provider, or older than `--oidc-session-hours` since that
// sign-in, may not act in a tenant that requires single sign-on (`permissions::access`
// refuses it, the tenant is left out of the session's tenants, its pages send the person
// to the provider), and goes on in the person's other tenants. Only a person all of whose
// tenants require it is refused a password sign-in (`sign_in::finish`), and such a
// session ends on its next request: an admin of one tenant cannot lock a member out of
// the member's other tenants.

/// Why a dashboard session may not go on, for a member of a tenant that requires single
/// sign-on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SsoSessionRefusal {
    /// The session was not opened through the provider (a password, say).
    NotThroughProvider { tenant: String },
    /// The sign-in at the provider is older than `--oidc-session-hours`.
    TooOld { tenant: String, hours: i64 },
    /// Single sign-on is not set up on this Keyward any more, so nobody of the tenant
    /// can sign in until an operator lifts the requirement.
    NotConfigured { tenant: String },
    /// A link of the account was removed (an unlink, a password reset) at or after this
    /// sign-in through the provider: a sign-in that was in flight then (its session saved
    /// after the removal ended the account's sessions) ends too.
    LinkRemoved,
}

impl SsoSessionRefusal {
    /// The short code the sign-in page is sent with (`/login?sso=…`).
    pub fn code(&self) -> &'static str {
        match self {
            SsoSessionRefusal::NotThroughProvider { .. } => "required",
            SsoSessionRefusal::TooOld { .. } => "expired",
            SsoSessionRefusal::NotConfigured { .. } => "unavailable",
            SsoSessionRefusal::LinkRemoved => "unlinked",
        }
    }
}

/// What the sign-in page says to a person sent there with `/login?sso=CODE`.
pub fn sign_in_notice(code: &str, provider: &str, hours: i64) -> Option<String> {
    Some(match code {
        "required" => format!("You were signed out: the tenants you belong to require single sign-on, so only a sign-in through {provider} opens a session. Sign in with {provider}."),
        "expired" => format!("You were signed out: the tenants you belong to require single sign-on, and a session through {provider} lasts at most {hours} hours. Sign in with {provider} again."),
        "unlinked" => format!("The identity is no longer linked to your account, and every session of your account has ended. Sign in again (with {provider}, it links again only by the usual checks)."),
        "unavailable" => "You were signed out: the tenants you belong to require single sign-on, which this Keyward is not set up for just now. Ask its operator: `keyward admin stop-requiring-sso --tenant SLUG` lifts the requirement.".into(),
        _ => return None,
    })
}

/// How a dashboard session was opened, as its session remembers it.
#[derive(Debug, Clone, Copy)]
pub struct SessionOrigin {
    pub through_provider: bool,
    /// When the person signed in (`None`: this very request).
    pub signed_in_at: Option<PrimitiveDateTime>,
}

/// Whether the session may not act in tenants that require single sign-on: it was not
/// opened through the provider, it is older than `--oidc-session-hours` since that
/// sign-in, or single sign-on is not set up (`sso`).
pub fn outside_sso(
    now: PrimitiveDateTime,
    origin: SessionOrigin,
    sso: Option<&OidcSettings>,
) -> bool {
    let Some(sso) = sso else { return true };
    let signed_in_at = origin.signed_in_at.unwrap_or(now);
    !origin.through_provider || now >= signed_in_at + Duration::hours(sso.session_hours)
}

/// Whether the account's session must end, read on every dashboard request: a session
/// through the provider signed in at or before a removal of the account's links (which
/// ends every session of the account, but not one whose sign-in was still in flight); and
/// a session outside single sign-on (`outside_sso`) of a person all of whose tenants
/// require it has nothing left to work in.
pub fn session_refusal(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    account_id: &crate::domain::AccountId,
    origin: SessionOrigin,
    sso: Option<&OidcSettings>,
) -> Result<Option<SsoSessionRefusal>, AppError> {
    if origin.through_provider {
        let signed_in_at = origin.signed_in_at.unwrap_or(now);
        if rows::link_removed_at(conn, account_id.as_str())?
            .is_some_and(|removed| signed_in_at <= removed)
        {
            return Ok(Some(SsoSessionRefusal::LinkRemoved));
        }
    }
    if !outside_sso(now, origin, sso) {
        return Ok(None);
    }
    let Some(tenant) = rows::TenantSsoRequirement::every_of_member(conn, account_id.as_str())?
    else {
        return Ok(None);
    };
    Ok(Some(match sso {
        None => SsoSessionRefusal::NotConfigured { tenant },
        Some(_) if !origin.through_provider => SsoSessionRefusal::NotThroughProvider { tenant },
        Some(sso) => SsoSessionRefusal::TooOld {
            tenant,
            hours: sso.session_hours,
        },
    }))
}

/// Whether the tenant requires single sign-on of its members; admins.
pub fn tenant_requirement(
    conn: &mut DbConnection,
    actor: &Actor,
    tenant_id: &crate::domain::TenantId,
) -> Result<bool, AppError> {
    permissions::require(conn, actor, tenant_id, Permission::ListMembers)?;
    Ok(rows::TenantSsoRequirement::is_required(
        conn,
        tenant_id.as_str(),
    )?)
}

/// Sets whether the tenant requires single sign-on of its members (human admins signed in
/// to the dashboard, never an API key; or the operator lifting it), audited. Turning it
/// on is refused while single sign-on is not
/// set up (`sso`), and when the admin's own account is not linked to the provider: they
/// would lock themselves out.
pub fn set_tenant_requirement(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    tenant_id: &crate::domain::TenantId,
    required: bool,
    sso: Option<&OidcSettings>,
) -> Result<bool, AppError> {
    transaction(conn, |conn| {
        permissions::require(conn, actor, tenant_id, Permission::ManagePeople)?;
        // A read-only key is refused before anything else is said.
        permissions::require_writable(actor)?;
        // Keys outlive an admin's removal at the provider: one could turn the requirement
        // off and reopen password sign-ins (as with two-factor and links, the dashboard
        // only).
        if actor.key_id().is_some() {
            return Err(AppError::forbidden(
                "an API key cannot change whether single sign-on is required: an admin changes it in the dashboard (Team › Settings › Single sign-on), signed in through the identity provider",
            ));
        }
        let before = rows::TenantSsoRequirement::is_required(conn, tenant_id.as_str())?;
        if before == required {
            return Ok(required);
        }
        if required {
            let sso = sso.ok_or_else(|| {
                AppError::invalid(
                    "required",
                    "single sign-on is not set up on this Keyward: its operator sets --oidc-issuer, --oidc-client-id and the client secret first (see the README, \"Single sign-on\")",
                )
            })?;
            let linked = match actor.account_id() {
                Some(account_id) => OidcIdentity::linked(conn, &sso.issuer, account_id.as_str())?,
                None => false,
            };
            if !linked && !actor.is_operator() {
                return Err(AppError::invalid(
                    "required",
                    format!("your own account is not linked to {}: sign out, sign in once with {} (the button on the sign-in page), then turn this on; otherwise your password would stop working and you would be locked out", sso.display_name, sso.display_name),
                ));
            }
        }
        rows::TenantSsoRequirement::set(conn, tenant_id.as_str(), required, now)?;
        audit::record(
            conn,
            actor,
            now,
            Event {
                tenant_id: Some(tenant_id.as_str()),
                action: AuditAction::SsoRequirementChanged,
                target_id: Some(tenant_id.as_str()),
                detail: match required {
                    true => "single sign-on required of members: passwords no longer sign them in"
                        .into(),
                    false => "single sign-on no longer required".into(),
                },
            },
        )?;
        Ok(required)
    })
}

// ---- the identities linked to an account ----

/// The identities linked to `account_id`: its owner, or the operator.
pub fn identities_of(
    conn: &mut DbConnection,
    actor: &Actor,
    account_id: &crate::domain::AccountId,
) -> Result<Vec<OidcIdentity>, AppError> {
    if !(actor.is_operator() || actor.is(account_id.as_str())) {
        return Err(AppError::forbidden(
            "only the account's owner or an operator sees its identity provider links",
        ));
    }
    Ok(OidcIdentity::of_account(conn, account_id.as_str())?)
}

/// Removes one identity linked to `account_id` (its owner, or the operator), audited in
/// each of the account's tenants; the owner may not remove their last link to the
/// configured provider (`sso`: links to another issuer sign nobody in) while a tenant of
/// theirs requires single sign-on; every session of the account ends with it, since a
/// session opened through a link someone else made must not outlive the link.
pub fn unlink(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    account_id: &crate::domain::AccountId,
    issuer: &str,
    subject: &str,
    sso: Option<&OidcSettings>,
) -> Result<(), AppError> {
    if !(actor.is_operator() || actor.is(account_id.as_str())) || actor.key_id().is_some() {
        return Err(AppError::forbidden(
            "only the account's owner (signed in) or an operator removes its identity provider links",
        ));
    }
    transaction(conn, |conn| {
        let links_last_used = OidcIdentity::last_sign_in_of_account(conn, account_id.as_str())?;
        if !OidcIdentity::delete_one(conn, account_id.as_str(), issuer, subject)? {
            return Err(AppError::not_found(
                "this account has no such identity provider link",
            ));
        }
        // A person does not cut off their own only way in: with a tenant that requires
        // single sign-on, the last link stays (the operator may still remove it).
        let still_signs_in = match sso {
            Some(sso) => OidcIdentity::linked(conn, &sso.issuer, account_id.as_str())?,
            // Without single sign-on set up no link signs in: nothing to keep.
            None => true,
        };
        if !actor.is_operator() && !still_signs_in {
            if let Some(tenant) =
                rows::TenantSsoRequirement::first_of_member(conn, account_id.as_str())?
            {
                return Err(AppError::Conflict(format!(
                    "{tenant} requires single sign-on and this is your account's last link to the identity provider: without it you could not sign in to {tenant}, so you cannot remove it yourself. If it is not yours, ask an operator of this Keyward to remove it (`keyward admin remove-sso-link`); an admin of {tenant} can also stop requiring single sign-on"
                )));
            }
        }
        // From now on only the password links an identity to this account again.
        rows::record_link_removal(conn, account_id.as_str(), now, links_last_used)?;
        crate::db::models::SessionRow::delete_all_of_account(conn, account_id.as_str())?;
        let detail =
            format!("unlinked the identity {subject} at {issuer}; the account's sessions ended");
        let tenants = Membership::tenants_of(conn, account_id.as_str())?;
        let tenant_ids: Vec<Option<&str>> = match tenants.is_empty() {
            true => vec![None],
            false => tenants.iter().map(|(t, _)| Some(t.id.as_str())).collect(),
        };
        for tenant_id in tenant_ids {
            audit::record_system(
                conn,
                actor,
                now,
                Event {
                    tenant_id,
                    action: AuditAction::SsoIdentityUnlinked,
                    target_id: Some(account_id.as_str()),
                    detail: detail.clone(),
                },
            )?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn discovery(issuer: &str, token_endpoint: &str) -> CoreProviderMetadata {
        serde_json::from_value(serde_json::json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/auth"),
            "token_endpoint": token_endpoint,
            "jwks_uri": format!("{issuer}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }))
        .expect("a discovery document")
    }

    #[test]
    fn oidc_discovery_with_a_plain_http_endpoint_is_refused_unless_the_issuer_is_loopback() {
        let https = "https://sso.example.com";
        assert_eq!(
            plain_http_endpoint(https, &discovery(https, "https://sso.example.com/token")),
            None
        );
        assert_eq!(
            plain_http_endpoint(https, &discovery(https, "http://sso.example.com/token"))
                .as_deref(),
            Some("http://sso.example.com/token")
        );
        for loopback in [
            "http://127.0.0.1:9000",
            "http://localhost:9000",
            "http://[::1]:9000",
        ] {
            assert_eq!(
                plain_http_endpoint(loopback, &discovery(loopback, &format!("{loopback}/token"))),
                None,
                "{loopback}"
            );
            // A loopback issuer exempts only endpoints on loopback (review finding L3).
            assert_eq!(
                plain_http_endpoint(
                    loopback,
                    &discovery(loopback, "http://sso.example.com/token")
                )
                .as_deref(),
                Some("http://sso.example.com/token"),
                "{loopback}"
            );
        }
        // Nor does a loopback endpoint pass on plain http under an https issuer.
        assert_eq!(
            plain_http_endpoint(https, &discovery(https, "http://127.0.0.1:9000/token")).as_deref(),
            Some("http://127.0.0.1:9000/token")
        );
    }
}
