//! Settings, resolved in this order: command-line flags > `KEYWARD_*` environment >
//! `keyward.toml` (or the file named by `--config`) > defaults. Secrets are held in types
//! whose `Debug` prints nothing of them.

use crate::db::{Backend, DatabaseUrl};
use crate::domain::Quotas;
use base64::Engine;
use ipnet::IpNet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://keyward.db";
pub const DEFAULT_CONFIG_FILE: &str = "keyward.toml";
pub const MIN_SESSION_SECRET_BYTES: usize = 64;
pub const DEFAULT_SHUTDOWN_TIMEOUT_SECS: u64 = 20;
pub const MIN_METRICS_TOKEN_CHARS: usize = 16;

/// What may come from the command line or the environment; `None` means "not given".
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SettingsArgs {
    /// Address to listen on, e.g. 127.0.0.1:8080 or 0.0.0.0:8080 [default: 127.0.0.1:8080]
    #[arg(long, env = "KEYWARD_BIND", value_name = "ADDR")]
    pub bind: Option<String>,
    /// The URL people reach Keyward at, e.g. https://keys.example.com; an https URL turns on
    /// Secure, `__Host-` session cookies
    #[arg(long, env = "KEYWARD_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Log level and format: a tracing filter such as `info` or `keyward=debug`, plus
    /// `,json` or `,pretty` [default: info,pretty]
    #[arg(long, env = "KEYWARD_LOG", value_name = "FILTER[,json|pretty]")]
    pub log: Option<String>,
    /// IP addresses or CIDR ranges of reverse proxies whose X-Forwarded-For is believed,
    /// comma-separated [default: none]
    #[arg(long, env = "KEYWARD_TRUSTED_PROXIES", value_name = "CIDRS")]
    pub trusted_proxies: Option<String>,
    /// Turns on `GET /metrics` (Prometheus), answered only with `Authorization: Bearer
    /// <this token>` [default: off]
    #[arg(
        long,
        env = "KEYWARD_METRICS_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub metrics_token: Option<String>,
    /// Seconds a stopping server (SIGTERM) gives in-flight requests before closing them
    /// [default: 20]
    #[arg(long, env = "KEYWARD_SHUTDOWN_TIMEOUT", value_name = "SECONDS")]
    pub shutdown_timeout: Option<u64>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Quotas and retention; `keyward admin` reads them from the environment and the file.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LimitArgs {
    /// Keys one account may hold in one tenant [default: 1000]
    #[arg(long, env = "KEYWARD_MAX_KEYS_PER_ACCOUNT", value_name = "N")]
    pub max_keys_per_account: Option<i64>,
    /// Service accounts one tenant may have [default: 1000]
    #[arg(
        long,
        env = "KEYWARD_MAX_SERVICE_ACCOUNTS_PER_TENANT",
        value_name = "N"
    )]
    pub max_service_accounts_per_tenant: Option<i64>,
    /// Pending invitations one tenant may have [default: 100]
    #[arg(
        long,
        env = "KEYWARD_MAX_PENDING_INVITATIONS_PER_TENANT",
        value_name = "N"
    )]
    pub max_pending_invitations_per_tenant: Option<i64>,
    /// Days the audit log keeps events [default: forever]
    #[arg(long, env = "KEYWARD_AUDIT_RETENTION_DAYS", value_name = "DAYS")]
    pub audit_retention_days: Option<i64>,
}

impl SettingsArgs {
    /// The serve settings from the environment alone, for `keyward` run with no command.
    pub fn default_from_env() -> Self {
        #[derive(clap::Parser)]
        struct EnvOnly {
            #[command(flatten)]
            args: SettingsArgs,
        }
        <EnvOnly as clap::Parser>::try_parse_from(["keyward"])
            .map(|e| e.args)
            .unwrap_or_default()
    }
}

/// Flags every command takes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DatabaseArgs {
    /// Database: sqlite://PATH (embedded, the default) or postgres://USER[:PASSWORD]@HOST/DB
    /// [default: sqlite://keyward.db]
    #[arg(long, env = "KEYWARD_DATABASE_URL", value_name = "URL", global = true)]
    pub database_url: Option<String>,
    /// Settings file [default: keyward.toml, when it exists]
    #[arg(long, env = "KEYWARD_CONFIG", value_name = "PATH", global = true)]
    pub config: Option<PathBuf>,
}

/// The optional settings file.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    bind: Option<String>,
    database_url: Option<String>,
    public_url: Option<String>,
    log: Option<String>,
    trusted_proxies: Option<Vec<String>>,
    session_secret: Option<String>,
    metrics_token: Option<String>,
    shutdown_timeout: Option<u64>,
    max_keys_per_account: Option<i64>,
    max_service_accounts_per_tenant: Option<i64>,
    max_pending_invitations_per_tenant: Option<i64>,
    audit_retention_days: Option<i64>,
}

impl FileSettings {
    fn limits(&self, args: &LimitArgs) -> Result<(Quotas, Option<i64>), String> {
        let d = Quotas::default();
        let pick = |name: &str, arg: Option<i64>, file: Option<i64>, default: i64| {
            let n = arg.or(file).unwrap_or(default);
            if n < 0 {
                return Err(format!("{name} must be 0 or more, not {n}"));
            }
            Ok(n)
        };
        let quotas = Quotas {
            max_keys_per_account: pick(
                "max_keys_per_account",
                args.max_keys_per_account,
                self.max_keys_per_account,
                d.max_keys_per_account,
            )?,
            max_service_accounts_per_tenant: pick(
                "max_service_accounts_per_tenant",
                args.max_service_accounts_per_tenant,
                self.max_service_accounts_per_tenant,
                d.max_service_accounts_per_tenant,
            )?,
            max_pending_invitations_per_tenant: pick(
                "max_pending_invitations_per_tenant",
                args.max_pending_invitations_per_tenant,
                self.max_pending_invitations_per_tenant,
                d.max_pending_invitations_per_tenant,
            )?,
        };
        let retention = match args.audit_retention_days.or(self.audit_retention_days) {
            Some(n) if n < 1 => {
                return Err(format!(
                    "audit_retention_days must be 1 or more (leave it out to keep the audit log forever), not {n}"
                ))
            }
            other => other,
        };
        Ok((quotas, retention))
    }
}

/// The session-cookie signing key. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionSecret(Vec<u8>);

impl std::fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionSecret(<redacted>)")
    }
}

impl SessionSecret {
    pub fn parse(base64_text: &str) -> Result<Self, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(base64_text.trim())
            .map_err(|_| "KEYWARD_SESSION_SECRET must be base64 (generate one with `openssl rand -base64 64`)".to_string())?;
        if bytes.len() < MIN_SESSION_SECRET_BYTES {
            return Err(format!(
                "KEYWARD_SESSION_SECRET must decode to at least {MIN_SESSION_SECRET_BYTES} bytes, it has {} (generate one with `openssl rand -base64 64`)",
                bytes.len()
            ));
        }
        Ok(Self(bytes))
    }

    pub fn generate() -> Self {
        let mut bytes = vec![0u8; MIN_SESSION_SECRET_BYTES];
        rand::fill(&mut bytes[..]);
        Self(bytes)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.0)
    }
}

/// The bearer token `GET /metrics` asks for. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct MetricsToken(String);

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(<redacted>)")
    }
}

impl MetricsToken {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.chars().count() < MIN_METRICS_TOKEN_CHARS || text.chars().any(char::is_whitespace) {
            return Err(format!(
                "the metrics token must be at least {MIN_METRICS_TOKEN_CHARS} characters without spaces (generate one with `openssl rand -hex 32`)"
            ));
        }
        Ok(Self(text.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

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
    /// HTTP worker threads; `None` means one per core.
    pub workers: Option<usize>,
    pub quotas: Quotas,
    /// Audit events older than this many days are deleted; `None` keeps them forever.
    pub audit_retention_days: Option<i64>,
    /// `None` leaves `GET /metrics` off (404).
    pub metrics_token: Option<MetricsToken>,
    /// How long SIGTERM waits for in-flight requests.
    pub shutdown_timeout: std::time::Duration,
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
        let metrics_token = match args
            .metrics_token
            .clone()
            .filter(|t| !t.trim().is_empty())
            .or(file.metrics_token)
        {
            Some(text) => Some(MetricsToken::parse(&text)?),
            None => None,
        };
        let shutdown_timeout = std::time::Duration::from_secs(
            args.shutdown_timeout
                .or(file.shutdown_timeout)
                .unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT_SECS),
        );
        Ok(Self {
            bind,
            database_url,
            public_url,
            log,
            trusted_proxies,
            session_secret,
            workers: None,
            quotas,
            audit_retention_days,
            metrics_token,
            shutdown_timeout,
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

    pub fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
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

fn secret_file_beside(db_path: &Path) -> Result<SessionSecret, String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut name = db_path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".session-secret");
    let path = db_path.with_file_name(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => SessionSecret::parse(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Written aside, then linked into place: of two instances starting together,
            // one links and the other reads the winner's whole file.
            let secret = SessionSecret::generate();
            let mut aside = path.clone().into_os_string();
            aside.push(format!(".{}", uuid::Uuid::new_v4().simple()));
            let aside = PathBuf::from(aside);
            let cannot = |e: std::io::Error| {
                format!(
                    "cannot create the session secret file {}: {e}",
                    path.display()
                )
            };
            let written = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&aside)
                .and_then(|mut file| writeln!(file, "{}", secret.to_base64()));
            if let Err(e) = written {
                let _ = std::fs::remove_file(&aside);
                return Err(cannot(e));
            }
            let linked = std::fs::hard_link(&aside, &path);
            let _ = std::fs::remove_file(&aside);
            match linked {
                Ok(()) => Ok(secret),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(&path).map_err(cannot)?;
                    SessionSecret::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
                }
                Err(e) => Err(cannot(e)),
            }
        }
        Err(e) => Err(format!(
            "cannot read the session secret file {}: {e}",
            path.display()
        )),
    }
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

fn load_file(explicit: Option<&Path>) -> Result<FileSettings, String> {
    let path = explicit.unwrap_or(Path::new(DEFAULT_CONFIG_FILE));
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(|e| {
            format!(
                "the settings file {} is not valid: {}",
                path.display(),
                e.message()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {
            Ok(FileSettings::default())
        }
        Err(e) => Err(format!(
            "cannot read the settings file {}: {e}",
            path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_session_secrets_are_refused() {
        let short = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert!(SessionSecret::parse(&short)
            .unwrap_err()
            .contains("at least 64 bytes"));
        let long = base64::engine::general_purpose::STANDARD.encode([7u8; 64]);
        assert!(SessionSecret::parse(&long).is_ok());
    }

    #[test]
    fn log_setting_takes_a_filter_and_a_format() {
        let s = LogSettings::parse("debug,json").unwrap();
        assert_eq!((s.filter.as_str(), s.format), ("debug", LogFormat::Json));
    }
}
