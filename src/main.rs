use clap::{CommandFactory, FromArgMatches};
use keyward::cli::{self, Cli, CliError, Command};
use keyward::config::{LogSettings, Settings, SettingsArgs};
use keyward::domain::Clock;
use keyward::startup::Application;

/// The process's allocator policy (glibc malloc tuning and trimming): the server's alone,
/// never the library's, so servers that tests start in-process run without it.
mod memory;

fn main() {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let top = &cli.database;
    let result = match cli.command {
        None => serve(
            &top.under(&Default::default()),
            SettingsArgs::default_from_env(),
        ),
        Some(Command::Serve(args)) => serve(&top.under(&args.database), args.settings),
        Some(Command::Migrate(args)) => {
            keyward::telemetry::init(&quiet());
            cli::migrate(&top.under(&args.database))
        }
        Some(Command::Admin(args)) => {
            keyward::telemetry::init(&quiet());
            let db = top.under(&args.database);
            cli::admin::run(&db, args)
        }
        Some(Command::Client(command)) => {
            if cli::server_flag_given(&matches) {
                Err(CliError::usage(
                    "--database-url and --config before a client command are the server's: the client commands talk to a server (--url) and read their own settings file (--config after the command)",
                ))
            } else {
                cli::client::run(command)
            }
        }
    };
    if let Err(e) = result {
        eprintln!("error: {}", e.message);
        std::process::exit(e.code);
    }
}

/// CLI commands log only warnings, so their output stays their own.
fn quiet() -> LogSettings {
    LogSettings {
        filter: "warn".into(),
        format: keyward::config::LogFormat::Pretty,
    }
}

fn serve(db: &keyward::config::DatabaseArgs, args: SettingsArgs) -> Result<(), CliError> {
    let settings = Settings::resolve(db, &args).map_err(CliError::usage)?;
    keyward::telemetry::init(&settings.log);
    memory::tune_malloc();
    memory::spawn_trimmer();
    keyward::services::passwords::before_each_hash(memory::trim);
    let runtime = actix_web::rt::System::new();
    runtime.block_on(async move {
        let app = Application::build(settings.clone(), Clock::system()).map_err(CliError::failure)?;
        tracing::info!(bind = %settings.bind, database = %settings.database_url, "keyward is listening on port {}", app.port());
        if let Some(mail) = &settings.mail {
            tracing::info!(smtp = %mail.smtp, "mail is on: the outbox worker sends through this SMTP server");
            if settings.public_url.is_none() {
                tracing::warn!("mail is on but --public-url is not set: nothing that carries a link is mailed (links in mail are built only from --public-url)");
            }
        }
        // The setup link is a secret: stdout only, never the logs.
        match keyward::web::handlers::setup::first_run_url(app.state(), app.port()).await {
            Ok(Some(url)) => println!(
                "Keyward has no accounts yet. Open this one-time link to create the first tenant and its administrator:\n\n    {url}\n"
            ),
            Ok(None) => {}
            Err(e) => return Err(CliError::failure(format!("cannot open first-run setup: {e}"))),
        }
        app.run_until_stopped().await.map_err(|e| CliError::failure(format!("the server stopped: {e}")))
    })
}
