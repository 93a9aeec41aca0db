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
    long_about = "Keyward: self-hosted, multi-tenant API keys.\n\nWith no command, `keyward` runs `serve`. Every flag can also be set in the environment (KEYWARD_*) or in keyward.toml; flags win over the environment, which wins over the file.\n\nThe client commands (login, logout, whoami, keys, service-accounts) talk GraphQL to a running server. They take the server URL from --url, else KEYWARD_URL, else the config file, and the API key from --key, else KEYWARD_API_KEY, else the config file ($XDG_CONFIG_HOME/keyward/config.toml, default ~/.config/keyward/config.toml, written by `keyward login`).",
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default): dashboard, GraphQL and /api
    // Boxed: the server's settings outweigh every other command's.
    Serve(Box<SettingsArgs>),
    /// Create or upgrade the database schema, then exit
    Migrate,
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
