use crate::config::Settings;
use crate::db::{Database, DbConnection};
use crate::domain::Clock;
use crate::error::AppError;
use actix_web::web;
use std::sync::Arc;
use time::PrimitiveDateTime;

/// What every handler shares: the database, the clock and the settings. Nothing in it
/// is state another instance would need.
#[derive(Clone)]
pub struct AppState {
    pub db: Database,
    pub clock: Clock,
    pub settings: Arc<Settings>,
    /// Which clients of which keys this instance recorded within the minute.
    pub client_sightings: Arc<crate::services::key_clients::ClientSightings>,
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
        let pool = self.db.pool.clone();
        let now = self.clock.now();
        web::block(move || {
            let mut conn = pool.get()?;
            f(&mut conn, now)
        })
        .await?
    }
}
