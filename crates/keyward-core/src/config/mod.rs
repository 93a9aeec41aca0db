//! Settings, resolved in this order: command-line flags > `KEYWARD_*` environment >
//! `keyward.toml` (or the file named by `--config`) > defaults. Flags and environment are
//! read in `args`, the file in `file`; secrets are held in `secrets`' types, whose `Debug`
//! prints nothing of them.

mod args;
mod file;
mod mail;
pub mod oidc;
mod secrets;

pub use args::{DatabaseArgs, LimitArgs, OutboxArgs, SettingsArgs};
pub use mail::{MailSettings, OutboxTiming, SmtpPassword, SmtpSecurity, SmtpUrl};
pub use oidc::{OidcArgs, OidcClientSecret, OidcSettings, MAX_FLOWS_IN_PROGRESS};
pub use secrets::{
    MetricsToken, RevocationApiTokens, SessionSecret, MAX_REVOCATION_API_TOKENS,
    MIN_REVOCATION_API_TOKEN_CHARS,
};

use crate::db::{Backend, DatabaseUrl};
use crate::domain::Quotas;
use file::load_file;
use ipnet::IpNet;
use secrets::secret_file_beside;
use std::net::IpAddr;

pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://keyward.db";
pub const DEFAULT_CONFIG_FILE: &str = "keyward.toml";
pub const MIN_SESSION_SECRET_BYTES: usize = 64;
pub const DEFAULT_SHUTDOWN_TIMEOUT_SECS: u64 = 20;
pub const MIN_METRICS_TOKEN_CHARS: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    pub filter: String,
    pub format: LogFormat,
}

impl LogSettings {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut format = LogFormat::Pretty;
        let mut directives = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "json" => format = LogFormat::Json,
                "pretty" => format = LogFormat::Pretty,
                other => directives.push(other),
            }
        }
        let filter = if directives.is_empty() {
            "info".to_string()
        } else {
            directives.join(",")
        };
        tracing_subscriber::EnvFilter::try_new(&filter)
            .map_err(|e| format!("the log setting \"{raw}\" is not understood ({e}); use e.g. `info`, `debug,json` or `keyward=trace`"))?;
        Ok(Self { filter, format })
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: String,
    pub database_url: DatabaseUrl,
    pub public_url: Option<String>,
    pub log: LogSettings,
    pub trusted_proxies: Vec<IpNet>,
    /// Given in the environment or file; on SQLite a missing one is made by
    /// `resolve_session_secret`.
    pub session_secret: Option<SessionSecret>,
    /// The session secret before the last change, kept while it is rotated out: read only
    /// to open two-factor secrets sealed under it (each is sealed again under the current
    /// one at its next use).
    pub previous_session_secret: Option<SessionSecret>,
    /// HTTP worker threads; `None` means one per core.
    pub workers: Option<usize>,
    pub quotas: Quotas,
    /// Audit events older than this many days are deleted; `None` keeps them forever.
    pub audit_retention_days: Option<i64>,
    /// `None` leaves `GET /metrics` off (404).
    pub metrics_token: Option<MetricsToken>,
    /// `None` leaves GitLab's Token Revocation API off (404, `docs/SECRET-SCANNING.md`);
    /// else the tokens it accepts (GitLab's, and one per CI job).
    pub revocation_api_tokens: Option<RevocationApiTokens>,
    /// How long SIGTERM waits for in-flight requests.
    pub shutdown_timeout: std::time::Duration,
    /// `None`: mail is off (no `--smtp-url`).
    pub mail: Option<MailSettings>,
    pub outbox: OutboxTiming,
    /// `None`: single sign-on is off (no `--oidc-issuer`).
    pub oidc: Option<OidcSettings>,

    /// Webhooks may go to internal addresses (`services::webhooks::target_allowed`).
    pub webhook_allow_private_targets: bool,
}

impl Settings {
    /// Resolves settings for `serve`.
    pub fn resolve(db: &DatabaseArgs, args: &SettingsArgs) -> Result<Self, String> {
        let file = load_file(db.config.as_deref())?;
        let (oidc_args, oidc_secret_in_file) = file.oidc(&args.oidc);
        let (quotas, audit_retention_days) = file.limits(&args.limits)?;
        let database_url = DatabaseUrl::parse(
            db.database_url
                .as_deref()
                .or(file.database_url.as_deref())
                .unwrap_or(DEFAULT_DATABASE_URL),
        )?;
        let bind = args
            .bind
            .clone()
            .or(file.bind)
            .unwrap_or_else(|| DEFAULT_BIND.into());
        let public_url = args
            .public_url
            .clone()
            .or(file.public_url)
            .map(|u| u.trim_end_matches('/').to_string());
        if let Some(url) = &public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!(
                    "the public URL \"{url}\" must start with http:// or https://"
                ));
            }
        }
        let log = LogSettings::parse(
            args.log
                .as_deref()
                .or(file.log.as_deref())
                .unwrap_or("info"),
        )?;
        let trusted_proxies = match (&args.trusted_proxies, file.trusted_proxies) {
            (Some(text), _) => parse_proxies(text.split(','))?,
            (None, Some(list)) => parse_proxies(list.iter().map(String::as_str))?,
            (None, None) => Vec::new(),
        };
        let session_secret = match std::env::var("KEYWARD_SESSION_SECRET")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .or(file.session_secret)
        {
            Some(text) => Some(SessionSecret::parse(&text)?),
            None => None,
        };
        let previous_session_secret = match std::env::var("KEYWARD_PREVIOUS_SESSION_SECRET")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .or(file.previous_session_secret)
        {
            Some(text) => Some(SessionSecret::parse(&text).map_err(|e| {
                e.replace("KEYWARD_SESSION_SECRET", "KEYWARD_PREVIOUS_SESSION_SECRET")
            })?),
            None => None,
        };
        let metrics_token = resolve_metrics_token(args, file.metrics_token)?;
        let revocation_api_tokens = resolve_revocation_api_tokens(args, file.revocation_api_token)?;
        let shutdown_timeout = std::time::Duration::from_secs(
            args.shutdown_timeout
                .or(file.shutdown_timeout)
                .unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT_SECS),
        );
        let mail = mail::resolve_mail(
            args.smtp_url.as_deref().or(file.smtp_url.as_deref()),
            args.mail_from.as_deref().or(file.mail_from.as_deref()),
            args.smtp_password_file.as_ref(),
            args.smtp_password.is_some(),
        )?;
        let outbox = outbox_timing(&args.outbox)?;
        let oidc = oidc::resolve(&oidc_args, oidc_secret_in_file, public_url.as_deref())?;
        Ok(Self {
            bind,
            database_url,
            public_url,
            log,
            trusted_proxies,
            session_secret,
            previous_session_secret,
            workers: None,
            quotas,
            audit_retention_days,
            metrics_token,
            revocation_api_tokens,
            shutdown_timeout,
            mail,
            outbox,
            oidc,

            webhook_allow_private_targets: args.webhook_allow_private_targets.unwrap_or(false),
        })
    }

    /// The quotas for `keyward admin`: from the environment and the file.
    pub fn quotas(db: &DatabaseArgs) -> Result<Quotas, String> {
        let file = load_file(db.config.as_deref())?;
        Ok(file.limits(&SettingsArgs::default_from_env().limits)?.0)
    }

    /// Settings for the commands that only need the database (`migrate`, `admin`).
    pub fn database_url(db: &DatabaseArgs) -> Result<DatabaseUrl, String> {
        let file = load_file(db.config.as_deref())?;
        DatabaseUrl::parse(
            db.database_url
                .as_deref()
                .or(file.database_url.as_deref())
                .unwrap_or(DEFAULT_DATABASE_URL),
        )
    }

    /// Whether cookies must be `Secure` (the public URL is https).
    pub fn secure_cookies(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }

    /// Whether `ip` is a trusted proxy. An IPv4-mapped IPv6 address (`::ffff:10.0.0.5`, as
    /// a dual-stack `[::]` listener sees IPv4 peers) is taken as the IPv4 address it maps.
    pub fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        is_in(&self.trusted_proxies, ip)
    }

    /// The session secret: the configured one; on SQLite, one kept in a 0600 file beside
    /// the database (made on first start); on PostgreSQL it must be configured so every
    /// instance shares it.
    pub fn resolve_session_secret(&self) -> Result<SessionSecret, String> {
        if let Some(secret) = &self.session_secret {
            return Ok(secret.clone());
        }
        match (&self.database_url, self.database_url.backend()) {
            (DatabaseUrl::Sqlite(path), Backend::Sqlite) => secret_file_beside(path),
            _ => Err("KEYWARD_SESSION_SECRET must be set when the database is PostgreSQL, so every instance shares it (generate one with `openssl rand -base64 64`)".into()),
        }
    }
}

/// The outbox timing: the defaults, with what the hidden flags change.
fn outbox_timing(args: &OutboxArgs) -> Result<OutboxTiming, String> {
    let d = OutboxTiming::default();
    let ms = |name: &str, given: Option<u64>, default: std::time::Duration| match given {
        Some(0) => Err(format!("{name} must be 1 or more milliseconds")),
        Some(n) if n > OutboxTiming::MAX_MS => Err(format!(
            "{name} must be at most {} milliseconds (a day), not {n}",
            OutboxTiming::MAX_MS
        )),
        Some(n) => Ok(std::time::Duration::from_millis(n)),
        None => Ok(default),
    };
    Ok(OutboxTiming {
        poll: ms("KEYWARD_OUTBOX_POLL_MS", args.outbox_poll_ms, d.poll)?,
        lease: ms("KEYWARD_OUTBOX_LEASE_MS", args.outbox_lease_ms, d.lease)?,
        retry_base: ms(
            "KEYWARD_OUTBOX_RETRY_BASE_MS",
            args.outbox_retry_base_ms,
            d.retry_base,
        )?,
        max_attempts: match args.outbox_max_attempts {
            Some(0) => return Err("KEYWARD_OUTBOX_MAX_ATTEMPTS must be 1 or more".into()),
            Some(n) if n > OutboxTiming::MAX_ATTEMPTS => {
                return Err(format!(
                    "KEYWARD_OUTBOX_MAX_ATTEMPTS must be at most {}, not {n}",
                    OutboxTiming::MAX_ATTEMPTS
                ))
            }
            Some(n) => n,
            None => d.max_attempts,
        },
    })
}

/// Whether `ip`, canonical (an IPv4-mapped IPv6 address as its IPv4 one), is in `nets`.
fn is_in(nets: &[IpNet], ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    nets.iter().any(|net| net.contains(&ip))
}

fn parse_proxies<'a>(items: impl Iterator<Item = &'a str>) -> Result<Vec<IpNet>, String> {
    items
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("the trusted proxy \"{s}\" is not an IP address or CIDR range such as 10.0.0.0/8"))
        })
        .collect()
}

/// The metrics token from `--metrics-token-file` / KEYWARD_METRICS_TOKEN_FILE, the
/// KEYWARD_METRICS_TOKEN variable or the config file, in that order; never from a flag's
/// value, which any local user sees in `ps`.
fn resolve_metrics_token(
    args: &SettingsArgs,
    from_config_file: Option<String>,
) -> Result<Option<MetricsToken>, String> {
    if args.metrics_token.is_some() {
        return Err("--metrics-token shows the token to anyone who runs `ps`: put it in a file readable by Keyward only and pass --metrics-token-file PATH (or KEYWARD_METRICS_TOKEN_FILE), or set KEYWARD_METRICS_TOKEN".into());
    }
    let from_env = std::env::var("KEYWARD_METRICS_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty());
    let text =
        match (&args.metrics_token_file, from_env) {
            (Some(_), Some(_)) => {
                return Err(
                    "both KEYWARD_METRICS_TOKEN and a metrics token file are set: keep one".into(),
                )
            }
            (Some(path), None) => Some(std::fs::read_to_string(path).map_err(|e| {
                format!("cannot read the metrics token file {}: {e}", path.display())
            })?),
            (None, from_env) => from_env.or(from_config_file),
        };
    text.map(|t| MetricsToken::parse(&t)).transpose()
}

/// The revocation API tokens (one a line) from `--revocation-api-token-file` /
/// KEYWARD_REVOCATION_API_TOKEN_FILE, the KEYWARD_REVOCATION_API_TOKEN variable or the
/// config file, in that order; never from a flag's value.
fn resolve_revocation_api_tokens(
    args: &SettingsArgs,
    from_config_file: Option<String>,
) -> Result<Option<RevocationApiTokens>, String> {
    let from_env = std::env::var("KEYWARD_REVOCATION_API_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty());
    let text = match (&args.revocation_api_token_file, from_env) {
        (Some(_), Some(_)) => return Err(
            "both KEYWARD_REVOCATION_API_TOKEN and a revocation API token file are set: keep one"
                .into(),
        ),
        (Some(path), None) => Some(std::fs::read_to_string(path).map_err(|e| {
            format!(
                "cannot read the revocation API token file {}: {e}",
                path.display()
            )
        })?),
        (None, from_env) => from_env.or(from_config_file),
    };
    text.map(|t| RevocationApiTokens::parse(&t)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_sign_on_comes_from_the_flags_over_the_file_and_says_what_is_missing() {
        let file: file::FileSettings = toml::from_str(
            r#"
            oidc_issuer = "https://sso.example.com/realms/acme"
            oidc_client_id = "keyward"
            oidc_client_secret = "from-the-file"
            oidc_allowed_domains = ["Example.com", "@example.org"]
            oidc_default_role = "read-only"
            "#,
        )
        .unwrap();
        let flags = OidcArgs {
            oidc_display_name: Some("Keycloak".into()),
            ..Default::default()
        };
        let (args, secret) = file.oidc(&flags);
        let sso = oidc::resolve(&args, secret.clone(), Some("https://keys.example.com/"))
            .unwrap()
            .expect("on");
        assert_eq!(sso.issuer, "https://sso.example.com/realms/acme");
        assert_eq!(sso.client_secret.expose(), "from-the-file");
        assert_eq!(sso.display_name, "Keycloak");
        assert_eq!(sso.allowed_domains, ["example.com", "example.org"]);
        assert_eq!(sso.default_role, crate::domain::Role::ReadOnlyUser);
        assert_eq!(
            sso.redirect_url,
            "https://keys.example.com/sign-in/oidc/callback"
        );
        assert!(
            !format!("{sso:?}").contains("from-the-file"),
            "Debug hides the secret"
        );
        let e = oidc::resolve(&args, secret.clone(), None).unwrap_err();
        assert!(e.contains("--public-url"), "{e}");
        let e = oidc::resolve(&args, None, Some("https://keys.example.com")).unwrap_err();
        assert!(e.contains("client secret"), "{e}");
        for plain in [
            "http://sso.example.com",
            "http://localhost.evil.example",
            "http://127.0.0.1.nip.io",
            "http://localhost@evil.example",
        ] {
            let plain = OidcArgs {
                oidc_issuer: Some(plain.into()),
                ..args.clone()
            };
            let e =
                oidc::resolve(&plain, secret.clone(), Some("https://k.example.com")).unwrap_err();
            assert!(e.contains("https://"), "{plain:?}: {e}");
        }
        for loopback in ["http://127.0.0.1:9000", "http://localhost:8080/realms/x"] {
            let ok = OidcArgs {
                oidc_issuer: Some(loopback.into()),
                ..args.clone()
            };
            assert!(oidc::resolve(&ok, secret.clone(), Some("https://k.example.com")).is_ok());
        }
        let flag = OidcArgs {
            oidc_client_secret: Some("shown in ps".into()),
            ..args
        };
        let e = oidc::resolve(&flag, secret, Some("https://k.example.com")).unwrap_err();
        assert!(e.contains("ps"), "{e}");
        assert_eq!(
            oidc::resolve(&OidcArgs::default(), None, None)
                .unwrap()
                .map(|s| s.issuer),
            None,
            "off without an issuer"
        );
    }

    #[test]
    fn huge_outbox_timings_are_refused_at_start_up() {
        let timing = |args: OutboxArgs| outbox_timing(&args);
        let e = timing(OutboxArgs {
            outbox_lease_ms: Some(u64::MAX),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.contains("KEYWARD_OUTBOX_LEASE_MS must be at most"), "{e}");
        for args in [
            OutboxArgs {
                outbox_poll_ms: Some(OutboxTiming::MAX_MS + 1),
                ..Default::default()
            },
            OutboxArgs {
                outbox_retry_base_ms: Some(u64::MAX / 1000),
                ..Default::default()
            },
            OutboxArgs {
                outbox_max_attempts: Some(u32::MAX),
                ..Default::default()
            },
        ] {
            assert!(timing(args.clone()).is_err(), "{args:?}");
        }
        let most = timing(OutboxArgs {
            outbox_poll_ms: Some(OutboxTiming::MAX_MS),
            outbox_lease_ms: Some(OutboxTiming::MAX_MS),
            outbox_retry_base_ms: Some(OutboxTiming::MAX_MS),
            outbox_max_attempts: Some(OutboxTiming::MAX_ATTEMPTS),
        })
        .unwrap();
        assert_eq!(most.lease, std::time::Duration::from_secs(24 * 3600));
    }

    #[test]
    fn log_setting_takes_a_filter_and_a_format() {
        let s = LogSettings::parse("debug,json").unwrap();
        assert_eq!((s.filter.as_str(), s.format), ("debug", LogFormat::Json));
    }

    #[test]
    fn a_trusted_proxy_seen_through_an_ipv4_mapped_ipv6_address_is_trusted() {
        let nets = parse_proxies(["10.0.0.0/8", "2001:db8::/32"].into_iter()).unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(is_in(&nets, ip("10.0.0.5")));
        assert!(is_in(&nets, ip("::ffff:10.0.0.5")));
        assert!(is_in(&nets, ip("2001:db8::1")));
        assert!(!is_in(&nets, ip("::ffff:192.0.2.1")));
        assert!(!is_in(&nets, ip("192.0.2.1")));
    }
}
