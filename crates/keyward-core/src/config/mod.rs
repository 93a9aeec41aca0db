//! Settings, resolved in this order: command-line flags > `KEYWARD_*` environment >
//! `keyward.toml` (or the file named by `--config`) > defaults. Flags and environment are
//! read in `args`, the file in `file`; secrets are held in `secrets`' types, whose `Debug`
//! prints nothing of them.

mod args;
mod file;
mod mail;
mod secrets;

pub use args::{DatabaseArgs, LimitArgs, OutboxArgs, SettingsArgs};
pub use mail::{MailSettings, OutboxTiming, SmtpPassword, SmtpSecurity, SmtpUrl};
pub use secrets::{MetricsToken, SessionSecret};

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
    /// How long SIGTERM waits for in-flight requests.
    pub shutdown_timeout: std::time::Duration,
    /// `None`: mail is off (no `--smtp-url`).
    pub mail: Option<MailSettings>,
    pub outbox: OutboxTiming,
    /// Webhooks may go to internal addresses (`services::webhooks::target_allowed`).
    pub webhook_allow_private_targets: bool,
}

impl Settings {
    /// Resolves settings for `serve`.
    pub fn resolve(db: &DatabaseArgs, args: &SettingsArgs) -> Result<Self, String> {
        let file = load_file(db.config.as_deref())?;
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
            shutdown_timeout,
            mail,
            outbox,
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

#[cfg(test)]
mod tests {
    use super::*;

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
