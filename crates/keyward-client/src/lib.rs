//! The command-line client: `login`, `logout`, `whoami`, `keys …` and
//! `service-accounts …`. It talks only GraphQL to a running server, with the URL and key
//! from a flag, the environment or the config file, in that order.

pub mod api;
pub mod commands;
pub mod config;
pub mod lifecycle;
pub mod output;

/// The paths these files used inside the `keyward` package, before the client was a crate.
use keyward_domain as domain;
mod cli {
    pub use keyward_domain::CliError;
}

use crate::cli::CliError;
use api::Api;
use clap::{Args, Subcommand};
use config::{ConfigFile, Sourced};

/// How to reach the server; every client command takes these.
#[derive(Args)]
pub struct Connection {
    /// Server URL, e.g. https://keys.example.com [else KEYWARD_URL, else the config file]
    #[arg(long, global = true, value_name = "URL")]
    pub url: Option<String>,
    /// API key [else KEYWARD_API_KEY, else the config file]
    #[arg(long, global = true, value_name = "KEY")]
    pub key: Option<String>,
    /// Print JSON instead of tables, for scripts
    #[arg(long, global = true)]
    pub json: bool,
    #[command(flatten)]
    pub config: ConfigArg,
}

/// The client's own settings file (never the server's `keyward.toml`).
#[derive(Debug, Clone, Args)]
pub struct ConfigArg {
    /// The client's config file, written by `keyward login`
    /// [default: $XDG_CONFIG_HOME/keyward/config.toml, else ~/.config/keyward/config.toml]
    #[arg(long = "config", global = true, value_name = "PATH", env = config::CONFIG_ENV)]
    pub path: Option<std::path::PathBuf>,
}

/// `keyward login`'s flags.
#[derive(Debug, Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// Read the API key from standard input (e.g. `echo "$KEY" | keyward login --url URL
    /// --key-stdin`), so it stays out of shell history and `ps`
    #[arg(long, conflicts_with = "key")]
    pub key_stdin: bool,
}

/// Never prints the key: only whether one was given.
impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("url", &self.url)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("json", &self.json)
            .field("config", &self.config.path)
            .finish()
    }
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Check a key against a server, then store the URL and key in the config file (mode 0600)
    Login(LoginArgs),
    /// Remove the config file and the URL and key it holds
    Logout(ConfigArg),
    /// Show the account, tenant and role of the key, the server, and where each came from
    Whoami(Connection),
    /// Your API keys (and, for admins, the tenant's service-account keys)
    Keys(KeysArgs),
    /// The tenant's service accounts and their keys (admins)
    #[command(name = "service-accounts")]
    ServiceAccounts(ServiceAccountsArgs),
    /// Show or set the tenant's key policy (admins)
    Policy(lifecycle::PolicyArgs),
}

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(flatten)]
    pub connection: Connection,
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the keys you can see, newest first
    List,
    /// Create a key for yourself in the key's tenant and print it once
    Create(NewKey),
    /// Revoke a key at once
    Revoke(Revoke),
    /// Replace a key by a new one of the same name; the old one stops after the overlap
    Rotate(lifecycle::Rotate),
    /// List the keys you can see that expire soon
    Expiring(lifecycle::Expiring),
}

#[derive(Debug, Args)]
pub struct NewKey {
    /// The key's name, 1-100 characters
    #[arg(long)]
    pub name: String,
    /// Lifetime: a number and m, h, d or w, e.g. 30d [default: never expires]
    #[arg(long, value_name = "DURATION", conflicts_with = "expires_at")]
    pub expires_in: Option<String>,
    /// Expiry: YYYY-MM-DD (midnight UTC) or RFC 3339 [default: never expires]
    #[arg(long, value_name = "DATE")]
    pub expires_at: Option<String>,
    /// Print only the key, so KEY=$(keyward keys create --name ci -q) works
    #[arg(short, long)]
    pub quiet: bool,
    /// The key may run queries but change nothing
    #[arg(long)]
    pub read_only: bool,
    /// An IPv4/IPv6 address or CIDR range the key may be used from; repeat for several
    /// [default: anywhere]
    #[arg(long = "allowed-ip", value_name = "CIDR")]
    pub allowed_ips: Vec<String>,
    /// What the key is for, at most 200 characters (shown in `keys list`)
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
}

#[derive(Debug, Args)]
pub struct Revoke {
    /// The key's id (from `keys list`), or its name when no other key you can see has it
    #[arg(value_name = "KEY_ID")]
    pub id: String,
    /// Do not ask for confirmation (required when there is no terminal)
    #[arg(long, short)]
    pub yes: bool,
    /// Also revoke every key and remove every service account made through this key
    #[arg(long)]
    pub with_descendants: bool,
}

#[derive(Debug, Args)]
pub struct ServiceAccountsArgs {
    #[command(flatten)]
    pub connection: Connection,
    #[command(subcommand)]
    pub command: ServiceAccountsCommand,
}

#[derive(Debug, Subcommand)]
pub enum ServiceAccountsCommand {
    /// List the tenant's service accounts
    List,
    /// Create a service account (ADMIN in the tenant unless --role says otherwise)
    Create {
        /// Display name
        name: String,
        /// Its role in the tenant: admin, user or read-only
        #[arg(long, default_value = "admin")]
        role: String,
    },
    /// Rename a service account
    Rename {
        /// The service account's id or name
        #[arg(value_name = "SA")]
        id: String,
        /// The new name
        name: String,
    },
    /// Change a service account's role: what its keys may do in the tenant
    #[command(name = "set-role")]
    SetRole {
        /// The service account's id or name
        #[arg(value_name = "SA")]
        id: String,
        /// admin, user or read-only
        role: String,
    },
    /// Remove a service account and revoke all its keys at once
    Remove {
        /// The service account's id or name
        #[arg(value_name = "SA")]
        id: String,
        /// Do not ask for confirmation (required when there is no terminal)
        #[arg(long, short)]
        yes: bool,
    },
    /// A service account's keys
    #[command(subcommand)]
    Keys(ServiceAccountKeysCommand),
}

#[derive(Debug, Subcommand)]
pub enum ServiceAccountKeysCommand {
    /// List a service account's keys
    List {
        /// The service account's id or name (from `service-accounts list`)
        #[arg(value_name = "SA")]
        sa_id: String,
    },
    /// Create a key for a service account and print it once
    Create {
        /// The service account's id or name (from `service-accounts list`)
        #[arg(value_name = "SA")]
        sa_id: String,
        #[command(flatten)]
        key: NewKey,
    },
    /// Revoke a service account's key at once
    Revoke(Revoke),
}

pub fn run(command: ClientCommand) -> Result<(), CliError> {
    match command {
        ClientCommand::Logout(c) => commands::logout(&config::config_path(c.path.as_deref())?),
        ClientCommand::Login(mut l) => {
            let path = config::config_path(l.connection.config.path.as_deref())?;
            if l.key_stdin {
                l.connection.key = Some(config::read_key_from_stdin()?);
            }
            let api = connect(&l.connection, &path, false)?;
            commands::login(&api, &path, l.connection.json)
        }
        ClientCommand::Whoami(c) => {
            let path = config::config_path(c.config.path.as_deref())?;
            commands::whoami(&connect(&c, &path, true)?, c.json)
        }
        ClientCommand::Keys(k) => {
            let path = config::config_path(k.connection.config.path.as_deref())?;
            let api = connect(&k.connection, &path, true)?;
            commands::keys(&api, k.command, k.connection.json)
        }
        ClientCommand::Policy(p) => {
            let path = config::config_path(p.connection.config.path.as_deref())?;
            let api = connect(&p.connection, &path, true)?;
            lifecycle::policy(&api, p.command, p.connection.json)
        }
        ClientCommand::ServiceAccounts(s) => {
            let path = config::config_path(s.connection.config.path.as_deref())?;
            let api = connect(&s.connection, &path, true)?;
            commands::service_accounts(&api, s.command, s.connection.json)
        }
    }
}

/// The URL and key by precedence: flag, environment, config file. A config file named
/// by `--config` or KEYWARD_CLIENT_CONFIG must exist (except for `login`, which writes it).
fn connect(c: &Connection, path: &std::path::Path, must_exist: bool) -> Result<Api, CliError> {
    if must_exist && c.config.path.is_some() && !path.exists() {
        return Err(CliError::usage(format!(
            "the config file {} does not exist: check --config (or KEYWARD_CLIENT_CONFIG), or run `keyward login --config {} --url URL --key-stdin` to write it",
            path.display(),
            path.display()
        )));
    }
    let file = config::load(path)?.unwrap_or_default();
    let ConfigFile {
        url: file_url,
        key: file_key,
    } = &file;
    let url = config::pick(
        c.url.as_deref(),
        "--url",
        config::URL_ENV,
        file_url.as_deref(),
        path,
    )
    .ok_or_else(|| {
        CliError::usage(
            "no server URL: pass --url URL, set KEYWARD_URL, or run `keyward login --url URL --key-stdin`",
        )
    })?;
    let key: Sourced = config::pick(
        c.key.as_deref(),
        "--key",
        config::KEY_ENV,
        file_key.as_deref(),
        path,
    )
    .ok_or_else(|| CliError {
        message: "not authenticated: no API key; pass --key KEY, set KEYWARD_API_KEY, or run `keyward login --url URL --key-stdin`".into(),
        code: api::NOT_AUTHENTICATED,
    })?;
    Api::new(url, key)
}
