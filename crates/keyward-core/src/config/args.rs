//! Command-line flags and their `KEYWARD_*` environment variables.

use std::path::PathBuf;

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
    /// A file holding the token that turns on `GET /metrics` (Prometheus), answered only
    /// with `Authorization: Bearer <token>`; or set KEYWARD_METRICS_TOKEN [default: off]
    #[arg(long, env = "KEYWARD_METRICS_TOKEN_FILE", value_name = "PATH")]
    pub metrics_token_file: Option<PathBuf>,
    /// Refused: a token on the command line shows in `ps` (use --metrics-token-file)
    #[arg(long, hide = true, value_name = "TOKEN")]
    pub metrics_token: Option<String>,
    /// A file holding the tokens accepted by Keyward's Token Revocation API
    /// (`/api/secret-scanning/gitlab/v1/…`), one a line: a self-managed GitLab's and one
    /// per CI job, each with its own rate budget; or set KEYWARD_REVOCATION_API_TOKEN
    /// [default: off]
    #[arg(long, env = "KEYWARD_REVOCATION_API_TOKEN_FILE", value_name = "PATH")]
    pub revocation_api_token_file: Option<PathBuf>,
    /// Seconds a stopping server (SIGTERM) gives in-flight requests before closing them
    /// [default: 20]
    #[arg(long, env = "KEYWARD_SHUTDOWN_TIMEOUT", value_name = "SECONDS")]
    pub shutdown_timeout: Option<u64>,
    /// The SMTP server mail is sent through: smtp://[USER@]HOST[:PORT] (STARTTLS) or
    /// smtps://[USER@]HOST[:PORT] (TLS); the password comes from --smtp-password-file or
    /// KEYWARD_SMTP_PASSWORD [default: mail off]
    #[arg(long, env = "KEYWARD_SMTP_URL", value_name = "URL")]
    pub smtp_url: Option<String>,
    /// A file holding the SMTP password (or set KEYWARD_SMTP_PASSWORD)
    #[arg(long, env = "KEYWARD_SMTP_PASSWORD_FILE", value_name = "PATH")]
    pub smtp_password_file: Option<PathBuf>,
    /// Refused: a password on the command line shows in `ps` (use --smtp-password-file)
    #[arg(long, hide = true, value_name = "PASSWORD")]
    pub smtp_password: Option<String>,
    /// The sender of Keyward's mail, e.g. "Keyward <keyward@example.com>"; needed with
    /// --smtp-url
    #[arg(long, env = "KEYWARD_MAIL_FROM", value_name = "MAILBOX")]
    pub mail_from: Option<String>,
    /// Deliver webhooks to loopback, private, link-local and other internal addresses too
    /// (for teams whose receivers are internal); by default they are refused
    #[arg(long, env = "KEYWARD_WEBHOOK_ALLOW_PRIVATE_TARGETS", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub webhook_allow_private_targets: Option<bool>,
    #[command(flatten)]
    pub oidc: super::oidc::OidcArgs,
    #[command(flatten)]
    pub outbox: OutboxArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// The outbox worker's timing, hidden: the defaults suit production, and tests shorten
/// them so that nothing waits long (docs/MAIL.md).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OutboxArgs {
    /// Milliseconds between an idle worker's looks for due rows [default: 2000]
    #[arg(long, hide = true, env = "KEYWARD_OUTBOX_POLL_MS", value_name = "MS")]
    pub outbox_poll_ms: Option<u64>,
    /// Milliseconds a claim on a row lasts; a send may take half of it [default: 600000]
    #[arg(long, hide = true, env = "KEYWARD_OUTBOX_LEASE_MS", value_name = "MS")]
    pub outbox_lease_ms: Option<u64>,
    /// Milliseconds before the first retry; doubled each time [default: 30000]
    #[arg(
        long,
        hide = true,
        env = "KEYWARD_OUTBOX_RETRY_BASE_MS",
        value_name = "MS"
    )]
    pub outbox_retry_base_ms: Option<u64>,
    /// Attempts before a row is given up [default: 8]
    #[arg(
        long,
        hide = true,
        env = "KEYWARD_OUTBOX_MAX_ATTEMPTS",
        value_name = "N"
    )]
    pub outbox_max_attempts: Option<u32>,
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
    /// Mails one tenant may have queued in 24 hours [default: 200]
    #[arg(long, env = "KEYWARD_MAX_MAILS_PER_TENANT_PER_DAY", value_name = "N")]
    pub max_mails_per_tenant_per_day: Option<i64>,
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
