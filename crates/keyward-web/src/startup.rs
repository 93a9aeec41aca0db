//! Building and running the server. `Application::build` binds first (port 0 in tests),
//! so the caller knows the port before the server runs.

use crate::config::Settings;
use crate::db::Database;
use crate::domain::Clock;
use crate::web::routes::Surface;
use crate::web::{self, AppState};
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web as aw, App, HttpServer};
use std::net::TcpListener;
use std::sync::Arc;

pub struct Application {
    port: u16,
    server: Server,
    state: AppState,
    /// Dropped when the server stops (or this is dropped unrun): the outbox worker and the
    /// expiry reminders end.
    outbox_running: Vec<std::sync::mpsc::Sender<()>>,
}

impl Application {
    /// Opens and migrates the database, then binds. Every failure is one clear line.
    pub fn build(settings: Settings, clock: Clock) -> Result<Self, String> {
        Self::build_on(settings, clock, None)
    }

    /// `build`, serving on `listener` when one is given instead of binding `settings.bind`
    /// (a test that must know the port before the server's settings are made: its public
    /// URL, registered at an OpenID provider).
    pub fn build_on(
        settings: Settings,
        clock: Clock,
        listener: Option<TcpListener>,
    ) -> Result<Self, String> {
        // actix-web starts one worker per core unless told otherwise.
        let workers = settings
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let db = Database::open_for_workers(&settings.database_url, workers)?;
        let mailer = settings
            .mail
            .as_ref()
            .map(|mail| crate::services::mail::Mailer::new(mail, settings.outbox.send_timeout()))
            .transpose()?;
        let session_secret = settings.resolve_session_secret()?;
        let session_key = actix_web::cookie::Key::try_from(session_secret.expose())
            .map_err(|_| "the session secret is too short to sign cookies".to_string())?;
        let sealing_keys = Arc::new(
            crate::services::sealing::SealingKeys::derive(session_secret.expose()).with_previous(
                settings
                    .previous_session_secret
                    .as_ref()
                    .map(|s| s.expose()),
            ),
        );
        let listener = match listener {
            Some(listener) => listener,
            None => TcpListener::bind(&settings.bind)
                .map_err(|e| format!("cannot listen on {}: {e}", settings.bind))?,
        };
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let sso = settings.oidc.clone().map(crate::services::oidc::Sso::new);
        let state = AppState {
            db,
            clock,
            sso,
            settings: Arc::new(settings),
            bookkeeping: Default::default(),
            client_sightings: Default::default(),
            graphql_running: Default::default(),
            reported_keys: Default::default(),
            device_cookies: web::device_cookie::DeviceCookieKey::derive(&session_secret),
            sealing_keys,
        };
        crate::services::passwords::prepare_decoy()?;
        warn_of_unopenable_two_factor(&state);
        let mail_on = mailer.is_some();
        let mut outbox_running = vec![
            spawn_housekeeping(state.clone()),
            spawn_reminder_worker(&state, mail_on),
        ];
        outbox_running.extend(spawn_webhook_workers(&state));
        outbox_running.extend(mailer.map(|mailer| spawn_outbox_worker(&state, mailer)));
        let data = aw::Data::new(state.clone());
        let graphql_schema = aw::Data::new(crate::graphql::Schemas::build());
        let session_state = state.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(graphql_schema.clone())
                .app_data(web::htmx::form_config())
                // The key-authenticated surfaces (GraphQL, `/api/*`, probes) and the
                // static files first and outside the scope: it matches every other path,
                // and route patterns (for the log line and metrics) are looked up in this
                // order. The dashboard's
                // routes, innermost first: CSRF needs the session, whose store failures
                // become 503 pages; full-page errors are drawn in the layout. Then, for
                // every route: errors become toasts for htmx, get the security headers,
                // and the log line sees the final status.
                .configure(|cfg| web::routes::configure(cfg, Surface::Sessionless))
                .service(
                    aw::scope("")
                        .guard(actix_web::guard::fn_guard(|ctx| {
                            let head = ctx.head();
                            !web::routes::runs_without_session(&head.method, head.uri.path())
                        }))
                        .wrap(from_fn(web::csrf::require_token))
                        .wrap(from_fn(web::error_pages::in_layout))
                        .wrap(web::session::middleware(
                            &session_state,
                            session_key.clone(),
                        ))
                        .wrap(from_fn(web::session_outage::store_unavailable_as_503))
                        .configure(|cfg| web::routes::configure(cfg, Surface::Dashboard)),
                )
                .wrap(from_fn(web::htmx::errors_as_toasts))
                .wrap(from_fn(web::security_headers::add))
                .wrap(from_fn(web::logging::log_request))
                .default_service(aw::route().to(web::error_pages::not_found))
        })
        .listen(listener)
        .map_err(|e| format!("cannot start the HTTP server: {e}"))?;
        // Signals are ours (`run_until_stopped`): actix-web's graceful stop is given a
        // second more than the shutdown timeout, so that at the timeout the watchdog, not
        // actix, decides whether requests were still running.
        server = server
            .workers(workers)
            .disable_signals()
            .shutdown_timeout(state.settings.shutdown_timeout.as_secs() + 1);
        Ok(Self {
            port,
            server: server.run(),
            state,
            outbox_running,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGTERM (stop accepting, let in-flight requests finish) or SIGINT /
    /// SIGQUIT (stop now), then returns. Either way the process ends within the shutdown
    /// timeout: requests still running then (a worker stuck in a statement or a loop) are
    /// logged by route and the process exits with status 1 (`watchdog`).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let timeout = self.state.settings.shutdown_timeout;
        let _outbox_running = self.outbox_running;
        let mut server = std::pin::pin!(self.server);
        tokio::select! {
            stopped = &mut server => return stopped,
            graceful = stop_signal() => {
                tracing::info!(
                    graceful,
                    "stopping: no new connections; requests in flight have {} s",
                    timeout.as_secs()
                );
                watchdog(timeout);
                // The command is sent at once; the server's own future says when it is done.
                drop(handle.stop(graceful));
            }
        }
        server.await
    }
}

/// Waits for SIGTERM (true: graceful), SIGINT or SIGQUIT (false), as actix-web would.
async fn stop_signal() -> bool {
    use actix_web::rt::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut quit)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::quit()),
    ) else {
        tracing::error!("cannot listen for stop signals; stop the server with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => true,
        _ = int.recv() => false,
        _ = quit.recv() => false,
    }
}

/// After `timeout`, on a thread of its own (a stuck worker cannot hold it up): requests
/// still running are logged by route and the process exits 1. With none running the
/// server is finishing its stop; if it has not after one more second, it exits 1 too.
fn watchdog(timeout: std::time::Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(timeout);
        let running = web::in_flight::now_serving();
        if !running.is_empty() {
            for (route, running_for) in &running {
                tracing::error!(
                    route = %route,
                    running_ms = running_for.as_millis() as u64,
                    "a request was still running at the shutdown timeout; stopping without it"
                );
            }
            std::process::exit(1);
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
        tracing::error!("the server did not stop within the shutdown timeout; stopping now");
        std::process::exit(1);
    });
}

/// The periodic clean-up, on a thread of its own: every instance runs it every
/// `housekeeping::EVERY`. A failure is logged and tried again next time.
/// A warning when accounts have two-factor on under a server secret this server has
/// neither as its own nor as the previous one: their people cannot sign in until the
/// operator sets KEYWARD_PREVIOUS_SESSION_SECRET (or resets their two-factor).
fn warn_of_unopenable_two_factor(state: &AppState) {
    let count = state
        .db
        .pool
        .get()
        .map_err(crate::error::AppError::from)
        .and_then(|mut conn| {
            crate::services::two_factor::unopenable_count(&mut conn, &state.sealing_keys)
        });
    match count {
        Ok(0) => {}
        Ok(accounts) => tracing::warn!(
            accounts,
            "two-factor cannot be checked for these accounts: their secrets were sealed under another server secret; set KEYWARD_PREVIOUS_SESSION_SECRET to it (every instance switches secrets together)"
        ),
        Err(e) => tracing::warn!(error = %e, "could not count two-factor secrets under other server secrets"),
    }
}

/// Every `housekeeping::EVERY`, on a thread of its own; it stops when the returned sender
/// is dropped (the server stopped), so a stopped server leaves no thread holding its pool.
fn spawn_housekeeping(state: AppState) -> std::sync::mpsc::Sender<()> {
    let (running, stop) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || loop {
        match stop.recv_timeout(crate::services::housekeeping::EVERY) {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        let result = state
            .db
            .pool
            .get()
            .map_err(crate::error::AppError::from)
            .and_then(|mut conn| {
                crate::services::housekeeping::sweep(
                    &mut conn,
                    state.clock.now(),
                    state.settings.audit_retention_days,
                )
            });
        if let Err(e) = result {
            tracing::warn!(error = %e, "housekeeping failed; it will try again");
        }
    });
    running
}

/// The expiry reminders (`services::key_notices`), on a thread of their own beside the
/// outbox worker: a pass at start, then hourly. They stop when the sender is dropped.
fn spawn_reminder_worker(state: &AppState, mail_on: bool) -> std::sync::mpsc::Sender<()> {
    let (running, stop) = std::sync::mpsc::channel();
    let worker = crate::services::key_notices::ReminderWorker {
        pool: state.db.pool.clone(),
        clock: state.clock.clone(),
        mail_on,
    };
    std::thread::Builder::new()
        .name("key-reminders".into())
        .spawn(move || worker.run(stop))
        .expect("a thread for the expiry reminders");
    running
}

/// The webhook deliveries (`services::webhooks`): `webhooks::DELIVERERS` threads, with
/// or without mail, so that one hanging receiver does not hold up the others.
fn spawn_webhook_workers(state: &AppState) -> Vec<std::sync::mpsc::Sender<()>> {
    let worker = crate::services::webhooks::Worker {
        pool: state.db.pool.clone(),
        clock: state.clock.clone(),
        keys: state.sealing_keys.clone(),
        timing: state.settings.outbox,
        allow_private: state.settings.webhook_allow_private_targets,
    };
    (0..crate::services::webhooks::DELIVERERS)
        .map(|n| {
            let (running, stop) = std::sync::mpsc::channel();
            let worker = worker.clone();
            std::thread::Builder::new()
                .name(format!("webhooks-{n}"))
                .spawn(move || worker.run(stop))
                .expect("a thread for a webhook deliverer");
            running
        })
        .collect()
}

/// The outbox worker, on a thread of its own (SMTP is blocking, and a slow server must
/// not hold up a request). It stops when the returned sender is dropped.
fn spawn_outbox_worker(
    state: &AppState,
    mailer: crate::services::mail::Mailer,
) -> std::sync::mpsc::Sender<()> {
    let (running, stop) = std::sync::mpsc::channel();
    let worker = crate::services::outbox::Worker {
        pool: state.db.pool.clone(),
        clock: state.clock.clone(),
        mailer,
        timing: state.settings.outbox,
    };
    std::thread::Builder::new()
        .name("outbox".into())
        .spawn(move || worker.run(stop))
        .expect("a thread for the outbox worker");
    running
}
