//! Building and running the server. `Application::build` binds first (port 0 in tests),
//! so the caller knows the port before the server runs.

use crate::config::Settings;
use crate::db::Database;
use crate::domain::Clock;
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
}

impl Application {
    /// Opens and migrates the database, then binds. Every failure is one clear line.
    pub fn build(settings: Settings, clock: Clock) -> Result<Self, String> {
        // actix-web starts one worker per core unless told otherwise.
        let workers = settings
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let db = Database::open_for_workers(&settings.database_url, workers)?;
        let session_secret = settings.resolve_session_secret()?;
        let session_key = actix_web::cookie::Key::try_from(session_secret.expose())
            .map_err(|_| "the session secret is too short to sign cookies".to_string())?;
        let listener = TcpListener::bind(&settings.bind)
            .map_err(|e| format!("cannot listen on {}: {e}", settings.bind))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let state = AppState {
            db,
            clock,
            settings: Arc::new(settings),
            client_sightings: Default::default(),
            device_cookies: web::device_cookie::DeviceCookieKey::derive(&session_secret),
        };
        crate::memory::tune_malloc();
        crate::memory::spawn_trimmer();
        // Made now, off the request path, so the first unknown email at sign-in takes
        // no longer than the others.
        crate::services::passwords::prepare_decoy();
        spawn_housekeeping(state.clone());
        let data = aw::Data::new(state.clone());
        let graphql_schema = aw::Data::new(crate::graphql::build_schema());
        let session_state = state.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(graphql_schema.clone())
                .app_data(web::htmx::form_config())
                // Innermost first: CSRF needs the session; errors become toasts for htmx,
                // then get the security headers; the log line sees the final status.
                .wrap(from_fn(web::csrf::require_token))
                .wrap(from_fn(web::error_pages::in_layout))
                .wrap(web::session::middleware(
                    &session_state,
                    session_key.clone(),
                ))
                .wrap(from_fn(web::session_outage::store_unavailable_as_503))
                .wrap(from_fn(web::htmx::errors_as_toasts))
                .wrap(from_fn(web::security_headers::add))
                .wrap(from_fn(web::logging::log_request))
                .configure(web::routes::configure)
                .default_service(aw::route().to(web::error_pages::not_found))
        })
        .listen(listener)
        .map_err(|e| format!("cannot start the HTTP server: {e}"))?;
        // SIGTERM (actix-web's own handler): stop accepting, let in-flight requests finish
        // for at most this long, then return from `run_until_stopped`, so `serve` exits 0.
        server = server
            .workers(workers)
            .shutdown_timeout(state.settings.shutdown_timeout.as_secs());
        Ok(Self {
            port,
            server: server.run(),
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// The periodic clean-up, on a thread of its own: every instance runs it every
/// `housekeeping::EVERY`. A failure is logged and tried again next time.
fn spawn_housekeeping(state: AppState) {
    std::thread::spawn(move || loop {
        std::thread::sleep(crate::services::housekeeping::EVERY);
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
}
