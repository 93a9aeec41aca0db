//! Use cases. Each public function is one transaction, asks `permissions` before it acts,
//! and writes an audit event when it changes state; reads write nothing (but the
//! once-a-minute `last_used_at` of the auth pipeline). Services never touch HTTP.
//! All of them block: call them inside `web::block` (see `web::state::AppState::run`).

pub mod accounts;
pub mod actor;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod invitations;
pub mod members;
pub mod passwords;
pub mod permissions;
pub mod service_accounts;
pub mod sessions;
pub mod setup;
pub mod sign_in;
pub mod tenants;

pub use actor::{Actor, Principal};

use crate::db::DbConnection;
use crate::error::AppError;
use diesel::Connection;

/// Runs `f` in one transaction; an `Err` rolls it back.
pub fn transaction<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, AppError>,
) -> Result<T, AppError> {
    conn.transaction(f)
}
