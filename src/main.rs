use clap::{CommandFactory, FromArgMatches};
use keyward::cli::{self, Cli, CliError, Command};
use keyward::config::{LogSettings, Settings, SettingsArgs};
use keyward::domain::Clock;
use keyward::startup::Application;

/// The process's allocator policy (glibc malloc tuning and trimming): the server's alone,
/// never the library's, so servers that tests start in-process run without it.
mod memory;

#[cfg(all(feature = "mimalloc", feature = "jemalloc"))]
compile_error!("choose one allocator: the features mimalloc and jemalloc exclude each other");

/// mimalloc for Rust's allocations (a measurement build; docs/PERFORMANCE.md).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// jemalloc for Rust's allocations (a measurement build; docs/PERFORMANCE.md).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's decay: freed pages go back to the system after a second, from jemalloc's
/// own background thread (the job glibc needs `memory::spawn_trimmer` for).
/// jemalloc reads this C string (`const char *malloc_conf`) at its start.
#[cfg(feature = "jemalloc")]
#[export_name = "_rjem_malloc_conf"]
pub static JEMALLOC_CONF: JemallocConf =
    JemallocConf(c"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0".as_ptr());

/// A pointer to a static C string, which any thread may read.
#[cfg(feature = "jemalloc")]
#[repr(transparent)]
pub struct JemallocConf(*const std::ffi::c_char);
// SAFETY: it points to a constant, never-written C string with a 'static lifetime.
#[cfg(feature = "jemalloc")]
unsafe impl Sync for JemallocConf {}

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
