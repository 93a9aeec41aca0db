//! Single sign-on settings (`--oidc-*`): the OpenID provider, this client's id and secret
//! (a file or the environment, never a flag), the button's name, which email domains may
//! create an account at first sign-in, and where such accounts land.

use crate::domain::{Role, TenantSlug};
use std::path::PathBuf;

/// The flags; every one also has its `KEYWARD_OIDC_*` variable.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OidcArgs {
    /// The OpenID provider's issuer URL, e.g. https://acme.okta.com (discovery reads
    /// ISSUER/.well-known/openid-configuration) [default: single sign-on off]
    #[arg(long, env = "KEYWARD_OIDC_ISSUER", value_name = "URL")]
    pub oidc_issuer: Option<String>,
    /// The client id Keyward is registered under at the provider
    #[arg(long, env = "KEYWARD_OIDC_CLIENT_ID", value_name = "ID")]
    pub oidc_client_id: Option<String>,
    /// A file holding the client secret (or set KEYWARD_OIDC_CLIENT_SECRET)
    #[arg(long, env = "KEYWARD_OIDC_CLIENT_SECRET_FILE", value_name = "PATH")]
    pub oidc_client_secret_file: Option<PathBuf>,
    /// Refused: a secret on the command line shows in `ps` (use --oidc-client-secret-file)
    #[arg(long, hide = true, value_name = "SECRET")]
    pub oidc_client_secret: Option<String>,
    /// The provider's name on the sign-in button, "Sign in with NAME" [default: your
    /// identity provider]
    #[arg(long, env = "KEYWARD_OIDC_DISPLAY_NAME", value_name = "NAME")]
    pub oidc_display_name: Option<String>,
    /// Email domains whose people get an account at their first sign-in when they have
    /// none, comma-separated, e.g. example.com; when set, existing accounts of other
    /// domains are not linked either [default: none: only existing accounts]
    #[arg(long, env = "KEYWARD_OIDC_ALLOWED_DOMAINS", value_name = "DOMAINS")]
    pub oidc_allowed_domains: Option<String>,
    /// The tenant (slug) an account made at first sign-in joins [default: none: it joins
    /// tenants through invitations]
    #[arg(long, env = "KEYWARD_OIDC_DEFAULT_TENANT", value_name = "SLUG")]
    pub oidc_default_tenant: Option<String>,
    /// The role it joins --oidc-default-tenant with: admin, user or read-only [default: user]
    #[arg(long, env = "KEYWARD_OIDC_DEFAULT_ROLE", value_name = "ROLE")]
    pub oidc_default_role: Option<String>,
    /// Trust an ID token's email without `email_verified: true` (Entra ID omits the claim);
    /// only for a provider that verifies every address itself [default: false]
    #[arg(long, env = "KEYWARD_OIDC_TRUST_UNVERIFIED_EMAIL", value_name = "BOOL")]
    pub oidc_trust_unverified_email: Option<bool>,
    /// How long a session of a member of a tenant that requires single sign-on lasts at
    /// most, in hours from the sign-in at the provider, 1-12 (12 is every session's limit)
    /// [default: 12]
    #[arg(long, env = "KEYWARD_OIDC_SESSION_HOURS", value_name = "HOURS")]
    pub oidc_session_hours: Option<i64>,
}

/// The client secret. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct OidcClientSecret(String);

impl std::fmt::Debug for OidcClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OidcClientSecret(<redacted>)")
    }
}

impl OidcClientSecret {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// Exactly as configured (no trailing slash added or removed): an ID token's `iss` must
    /// equal it.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: OidcClientSecret,
    pub display_name: String,
    /// `PUBLIC_URL/sign-in/oidc/callback`.
    pub redirect_url: String,
    /// Lower-case domains; empty: no account is made at first sign-in.
    pub allowed_domains: Vec<String>,
    pub default_tenant: Option<TenantSlug>,
    pub default_role: Role,
    pub trust_unverified_email: bool,
    /// Sessions of members of tenants that require single sign-on end this long after the
    /// sign-in at the provider.
    pub session_hours: i64,
    /// Sign-ins in progress kept at once: always `MAX_FLOWS_IN_PROGRESS` from the
    /// configuration (no option sets it); tests set a small one.
    pub max_flows: i64,
}

/// Sign-ins in progress kept at once (10 minutes each); past it a start evicts the oldest
/// flows of the address group with the most (`services::oidc::start`).
pub const MAX_FLOWS_IN_PROGRESS: i64 = 10_000;

/// `--oidc-session-hours` when not given.
pub const DEFAULT_SESSION_HOURS: i64 = 12;
/// The most `--oidc-session-hours` may be: every session ends 12 hours after sign-in.
pub const MAX_SESSION_HOURS: i64 = 12;

pub const CALLBACK_PATH: &str = "/sign-in/oidc/callback";

/// `None` when no issuer is configured; an error that says what to fix when the settings
/// are incomplete or wrong.
pub fn resolve(
    args: &OidcArgs,
    secret_in_file: Option<String>,
    public_url: Option<&str>,
) -> Result<Option<OidcSettings>, String> {
    if args.oidc_client_secret.is_some() {
        return Err("--oidc-client-secret shows the secret to anyone who runs `ps`: put it in a file readable by Keyward only and pass --oidc-client-secret-file PATH (or KEYWARD_OIDC_CLIENT_SECRET_FILE), or set KEYWARD_OIDC_CLIENT_SECRET".into());
    }
    let Some(issuer) = args
        .oidc_issuer
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    else {
        return Ok(None);
    };
    let parsed = openidconnect::url::Url::parse(issuer)
        .map_err(|e| format!("--oidc-issuer {issuer:?} is not a URL: {e}"))?;
    let loopback_http = parsed.scheme() == "http"
        && parsed.username().is_empty()
        && parsed.password().is_none()
        && matches!(
            parsed.host(),
            Some(openidconnect::url::Host::Domain("localhost"))
                | Some(openidconnect::url::Host::Ipv4(
                    std::net::Ipv4Addr::LOCALHOST
                ))
                | Some(openidconnect::url::Host::Ipv6(
                    std::net::Ipv6Addr::LOCALHOST
                ))
        );
    if !(parsed.scheme() == "https" || loopback_http) {
        return Err(format!(
            "--oidc-issuer {issuer:?} must be an https:// URL (plain http:// only to this machine's loopback, for testing)"
        ));
    }
    let client_id = args
        .oidc_client_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or("--oidc-issuer needs --oidc-client-id (or KEYWARD_OIDC_CLIENT_ID): the client id Keyward is registered under at the provider")?
        .to_string();
    let from_env = std::env::var("KEYWARD_OIDC_CLIENT_SECRET")
        .ok()
        .filter(|s| !s.trim().is_empty());
    let secret = match (&args.oidc_client_secret_file, from_env) {
        (Some(_), Some(_)) => {
            return Err("both KEYWARD_OIDC_CLIENT_SECRET and an OIDC client secret file are set: keep one".into())
        }
        (Some(path), None) => std::fs::read_to_string(path).map_err(|e| {
            format!("cannot read the OIDC client secret file {}: {e}", path.display())
        })?,
        (None, Some(secret)) => secret,
        (None, None) if secret_in_file.is_some() => secret_in_file.unwrap_or_default(),
        (None, None) => return Err("--oidc-issuer needs the client secret: pass --oidc-client-secret-file PATH (or KEYWARD_OIDC_CLIENT_SECRET_FILE), or set KEYWARD_OIDC_CLIENT_SECRET".into()),
    };
    let secret = secret.trim().to_string();
    if secret.is_empty() {
        return Err("the OIDC client secret is empty".into());
    }
    let public_url = public_url.ok_or("single sign-on needs --public-url (KEYWARD_PUBLIC_URL): the provider sends people back to PUBLIC_URL/sign-in/oidc/callback, which must be registered there")?;
    let allowed_domains = args
        .oidc_allowed_domains
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .map(|d| {
            if d.contains('.')
                && d.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            {
                Ok(d)
            } else {
                Err(format!(
                    "--oidc-allowed-domains: {d:?} is not a domain such as example.com"
                ))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let default_tenant = args
        .oidc_default_tenant
        .as_deref()
        .map(|s| TenantSlug::parse(s).map_err(|e| format!("--oidc-default-tenant {}", e.message)))
        .transpose()?;
    let default_role = match args.oidc_default_role.as_deref() {
        Some(r) => Role::parse(r).map_err(|e| format!("--oidc-default-role {}", e.message))?,
        None => Role::User,
    };
    let display_name = args
        .oidc_display_name
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("your identity provider")
        .chars()
        .filter(|c| !c.is_control())
        .take(60)
        .collect();
    let session_hours = args.oidc_session_hours.unwrap_or(DEFAULT_SESSION_HOURS);
    if !(1..=MAX_SESSION_HOURS).contains(&session_hours) {
        return Err(format!(
            "--oidc-session-hours must be 1 to {MAX_SESSION_HOURS} (every session ends {MAX_SESSION_HOURS} hours after sign-in anyway), not {session_hours}"
        ));
    }
    Ok(Some(OidcSettings {
        issuer: issuer.to_string(),
        client_id,
        client_secret: OidcClientSecret(secret),
        display_name,
        redirect_url: format!("{}{CALLBACK_PATH}", public_url.trim_end_matches('/')),
        allowed_domains,
        default_tenant,
        default_role,
        trust_unverified_email: args.oidc_trust_unverified_email.unwrap_or(false),
        session_hours,
        max_flows: MAX_FLOWS_IN_PROGRESS,
    }))
}
