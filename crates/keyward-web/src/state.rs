use crate::config::Settings;
use crate::db::{Database, DbConnection};
use crate::domain::Clock;
use crate::error::AppError;
use actix_web::web;
use std::sync::Arc;
use time::PrimitiveDateTime;

/// Bookkeeping writes that may run at once; more are dropped (see `spawn_bookkeeping`).
pub const MAX_BOOKKEEPING: usize = 4;

/// What every handler shares: the database, the clock and the settings. Nothing in it
/// is state another instance would need.
#[derive(Clone)]
pub struct AppState {
    pub db: Database,
    pub clock: Clock,
    pub settings: Arc<Settings>,
    /// Which clients of which keys this instance recorded within the minute.
    pub client_sightings: Arc<crate::services::key_clients::ClientSightings>,
    /// GraphQL requests running per key on this instance (at most two each).
    pub graphql_running: Arc<crate::request_budget::RunningPerKey>,
    /// Keys the GitLab Token Revocation API may still take this minute on this instance,
    /// per token.
    pub reported_keys: Arc<crate::request_budget::PerToken>,
    /// Signs and checks the browsers' device cookies (`web::device_cookie`).
    pub device_cookies: crate::web::device_cookie::DeviceCookieKey,
    /// Seals two-factor secrets and digests recovery codes (`services::two_factor`).
    pub sealing_keys: Arc<crate::services::sealing::SealingKeys>,
    /// The OpenID provider and its cached discovery; `None`: single sign-on is off.
    pub sso: Option<Arc<crate::services::oidc::Sso>>,
}

impl AppState {
    /// The state the server registered, for extractors that only have the request.
    pub fn of(req: &actix_web::HttpRequest) -> Result<web::Data<AppState>, AppError> {
        req.app_data::<web::Data<AppState>>()
            .cloned()
            .ok_or_else(|| AppError::internal("application state is missing"))
    }

    /// Runs blocking work (a service call) off the async executor with a pooled
    /// connection and the current time.
    pub async fn run<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection, PrimitiveDateTime) -> Result<T, AppError> + Send + 'static,
    {
        crate::services::run_blocking(&self.db, &self.clock, f).await
    }

    /// Runs a best-effort write about a request (a key's last use, a client seen) in the
    /// background, never delaying the request: at most
    /// `MAX_BOOKKEEPING` run at once, and one is dropped, not queued, when that many
    /// already run or the main pool has no idle connection. `work` logs its own failure.
    pub fn spawn_bookkeeping<F>(&self, work: F)
    where
        F: FnOnce(&mut DbConnection, PrimitiveDateTime) + Send + 'static,
    {
        static RUNNING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_BOOKKEEPING);
        let Ok(permit) = RUNNING.try_acquire() else {
            crate::telemetry::metrics::bookkeeping_dropped();
            return;
        };
        let (pool, now) = (self.db.pool.clone(), self.clock.now());
        let span = tracing::Span::current();
        actix_web::rt::spawn(async move {
            let _permit = permit;
            let done = web::block(move || match pool.try_get() {
                Some(mut conn) => {
                    span.in_scope(|| work(&mut conn, now));
                    true
                }
                None => false,
            })
            .await;
            if !matches!(done, Ok(true)) {
                crate::telemetry::metrics::bookkeeping_dropped();
            }
        });
    }
}
