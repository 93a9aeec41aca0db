//! The `keyward` command line: `serve` (the default), `migrate`, `admin …`, and the
//! client commands (`login`, `whoami`, `keys …`, `service-accounts …`).

pub mod admin;
pub mod backup;
pub use keyward_client as client;

use crate::config::{DatabaseArgs, Settings, SettingsArgs};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "keyward",
    version,
    about = "Keyward: self-hosted, multi-tenant API keys",
    long_about = "Keyward: self-hosted, multi-tenant API keys.\n\nWith no command, `keyward` runs `serve`. Every flag can also be set in the environment (KEYWARD_*) or in keyward.toml; flags win over the environment, which wins over the file.\n\nThe client commands (login, logout, whoami, keys, service-accounts) talk GraphQL to a running server. They take the server URL from --url, else KEYWARD_URL, else the config file, and the API key from --key, else KEYWARD_API_KEY, else the config file (--config PATH after the command, else KEYWARD_CLIENT_CONFIG, else $XDG_CONFIG_HOME/keyward/config.toml, default ~/.config/keyward/config.toml; written by `keyward login`, which reads the key from standard input with --key-stdin). The server's --database-url and --config are not theirs.",
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// The server's flags for bare `keyward` (which serves). Not global: the client
    /// commands talk to a server and take none of the server's settings.
    #[command(flatten)]
    pub database: ServerDefaults,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// `--database-url` and `--config` before any command, for bare `keyward` (and, as a
/// fallback, for `serve`, `migrate` and `admin`, which take them after their name too).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServerDefaults {
    /// Database: sqlite://PATH (embedded, the default) or postgres://USER[:PASSWORD]@HOST/DB
    /// [default: sqlite://keyward.db]
    #[arg(long, env = "KEYWARD_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// Settings file [default: keyward.toml, when it exists]
    #[arg(long, env = "KEYWARD_CONFIG", value_name = "PATH")]
    pub config: Option<std::path::PathBuf>,
}

impl ServerDefaults {
    /// The command's own flags, else these.
    pub fn under(&self, own: &DatabaseArgs) -> DatabaseArgs {
        DatabaseArgs {
            database_url: own
                .database_url
                .clone()
                .or_else(|| self.database_url.clone()),
            config: own.config.clone().or_else(|| self.config.clone()),
        }
    }
}

/// `keyward serve`'s flags.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// `keyward migrate`'s flags.
#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default): dashboard, GraphQL and /api
    // Boxed: the server's settings outweigh every other command's.
    Serve(Box<ServeArgs>),
    /// Create or upgrade the database schema, then exit
    Migrate(MigrateArgs),
    /// Operator commands for bootstrap and scripts: tenants, people, members, keys
    Admin(admin::AdminArgs),
    #[command(flatten)]
    Client(client::ClientCommand),
}

/// Shown by `--help` and in the README.
pub const EXIT_CODES: &str = "Exit codes:\n  0  ok\n  1  other failure\n  2  bad input (a wrong argument, an unknown id, a refused value, no --yes without a terminal)\n  3  not authenticated (the API key is missing, unknown, revoked or expired)\n  4  permission denied (the key's role may not do this)\n  5  server unreachable";

pub use crate::domain::CliError;

pub fn migrate(db: &DatabaseArgs) -> Result<(), CliError> {
    let url = Settings::database_url(db).map_err(CliError::usage)?;
    crate::db::Database::connect_once(&url).map_err(CliError::failure)?;
    println!("the database {url} is up to date");
    Ok(())
}

/// Whether `--database-url` or `--config` was typed before the command (the environment
/// does not count: a server's environment may well hold them).
pub fn server_flag_given(matches: &clap::ArgMatches) -> bool {
    ["database_url", "config"]
        .iter()
        .any(|id| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
}
