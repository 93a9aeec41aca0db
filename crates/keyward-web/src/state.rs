use crate::config::Settings;
use crate::db::{Database, DbConnection};
use crate::domain::Clock;
use crate::error::AppError;
use actix_web::web;
use std::sync::Arc;
use time::PrimitiveDateTime;

/// Bookkeeping writes that may run at once per server; more are dropped (see
/// `spawn_bookkeeping`).
pub const MAX_BOOKKEEPING: usize = 4;
/// How long a bookkeeping write looks for an idle connection of the main pool before it
/// is dropped. It never joins the pool's queue, so requests waiting there come first.
pub const BOOKKEEPING_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
/// How often it looks meanwhile.
const BOOKKEEPING_LOOK_EVERY: std::time::Duration = std::time::Duration::from_millis(10);

/// The turns for bookkeeping writes: `MAX_BOOKKEEPING` per server. Per server, not per
/// process, so that servers sharing a process (the tests') do not take each other's.
#[derive(Debug, Clone)]
pub struct BookkeepingTurns(Arc<tokio::sync::Semaphore>);

impl Default for BookkeepingTurns {
    fn default() -> Self {
        Self(Arc::new(tokio::sync::Semaphore::new(MAX_BOOKKEEPING)))
    }
}

/// What every handler shares: the database, the clock and the settings. Nothing in it
/// is state another instance would need.
#[derive(Clone)]
pub struct AppState {
    pub db: Database,
    pub clock: Clock,
    pub settings: Arc<Settings>,
    /// The turns for best-effort writes about requests (`spawn_bookkeeping`).
    pub bookkeeping: BookkeepingTurns,
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
    /// background, never delaying the request: at most `MAX_BOOKKEEPING` run at once on
    /// this server, and one is dropped, not queued, when that many already run or no
    /// connection of the main pool is idle within `BOOKKEEPING_WAIT` (it takes only idle
    /// ones, never queueing before requests). It runs within the statement budget. `work`
    /// logs its own failure.
    pub fn spawn_bookkeeping<F>(&self, work: F)
    where
        F: FnOnce(&mut DbConnection, PrimitiveDateTime) + Send + 'static,
    {
        self.spawn_bookkeeping_or(work, || {});
    }

    /// `spawn_bookkeeping`, calling `dropped` when the write is dropped (so that what
    /// throttles it can let the next request try again).
    pub fn spawn_bookkeeping_or<F, D>(&self, work: F, dropped: D)
    where
        F: FnOnce(&mut DbConnection, PrimitiveDateTime) + Send + 'static,
        D: FnOnce() + Send + 'static,
    {
        let Ok(permit) = self.bookkeeping.0.clone().try_acquire_owned() else {
            crate::telemetry::metrics::bookkeeping_dropped();
            dropped();
            return;
        };
        let (pool, now) = (self.db.pool.clone(), self.clock.now());
        let span = tracing::Span::current();
        actix_web::rt::spawn(async move {
            let _permit = permit;
            let done = web::block(move || match idle_connection(&pool) {
                Some(mut conn) => {
                    span.in_scope(|| {
                        crate::db::statement_limit::within(
                            crate::db::statement_limit::BUDGET,
                            || work(&mut conn, now),
                        )
                    });
                    true
                }
                None => false,
            })
            .await;
            if !matches!(done, Ok(true)) {
                crate::telemetry::metrics::bookkeeping_dropped();
                dropped();
            }
        });
    }
}

/// An idle connection of the pool within `BOOKKEEPING_WAIT`, looked for every
/// `BOOKKEEPING_LOOK_EVERY` (r2d2's `try_get` takes only an idle one and never waits in
/// the queue requests wait in).
fn idle_connection(pool: &crate::db::Pool) -> Option<crate::db::PooledConn> {
    let deadline = std::time::Instant::now() + BOOKKEEPING_WAIT;
    loop {
        if let Some(conn) = pool.try_get() {
            return Some(conn);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(BOOKKEEPING_LOOK_EVERY);
    }
}
