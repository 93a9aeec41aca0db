//! Use cases. Each public function is one transaction, asks `permissions` before it acts,
//! and writes an audit event when it changes state; reads write nothing (but the
//! once-a-minute `last_used_at` of the auth pipeline). Services never touch HTTP.
//! All of them block: call them through `run_blocking` (the surfaces' `AppState::run`).
//!
//! The modules form no circle: each uses only those on an earlier line (and `Actor`,
//! `transaction` from here). Keep it so; a new edge against this order is a design change.
//! 0. actor, guess_limits, key_clients, key_expiry, mail, paging, passwords, sealing
//! 1. permissions
//! 2. audit, outbox, sessions
//! 3. audit_export, key_policy, sign_in, webhooks
//! 4. key_notices, two_factor
//! 5. accounts, api_keys, recovery
//! 6. ip_allow, key_leaks, key_rotation, members, password_checks, service_accounts, tenants
//! 7. auth, invitations, key_lists, key_revocation, oidc, setup
//! 8. agents, team_lists
//! 9. housekeeping
//!
//! (Checked by reading each module's `crate::services::…` and `super::…` paths outside
//! its tests: every one names a module on an earlier line.)

pub mod accounts;
pub mod actor;
pub mod agents;
pub mod api_keys;
pub mod audit;
pub mod audit_export;
pub mod auth;
pub mod guess_limits;
pub mod housekeeping;
pub mod invitations;
pub mod ip_allow;
pub mod key_clients;
pub mod key_expiry;
pub mod key_leaks;
pub mod key_lists;
pub mod key_notices;
pub mod key_policy;
pub mod key_revocation;
pub mod key_rotation;
pub mod mail;
pub mod members;
pub mod oidc;
pub mod outbox;
pub mod paging;
pub mod password_checks;
pub mod passwords;
pub mod permissions;
pub mod recovery;
pub mod sealing;
pub mod service_accounts;
pub mod sessions;
pub mod setup;
pub mod sign_in;
pub mod team_lists;
pub mod tenants;
pub mod two_factor;
pub mod webhooks;

pub use actor::{Actor, Principal, SingleSignOn};

use crate::db::{Database, DbConnection};
use crate::domain::Clock;
use crate::error::AppError;
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::Connection;
use time::PrimitiveDateTime;

type Manager = <DbConnection as Connection>::TransactionManager;

/// Runs `f` in one transaction; an `Err` rolls it back.
///
/// On SQLite the outermost transaction is `BEGIN IMMEDIATE`: every service reads (the
/// permission check) before it writes, and a deferred transaction that later needs the
/// write lock fails at once with "database is locked" instead of waiting `busy_timeout`.
/// Nested calls become savepoints.
pub fn transaction<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, AppError>,
) -> Result<T, AppError> {
    let began_immediate = match conn {
        DbConnection::Sqlite(inner) => {
            match AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE") {
                Ok(()) => true,
                Err(diesel::result::Error::AlreadyInTransaction) => false,
                Err(e) => return Err(e.into()),
            }
        }
        DbConnection::Postgres(_) => false,
    };
    if !began_immediate {
        return conn.transaction(f);
    }
    match f(conn) {
        Ok(value) => match Manager::commit_transaction(conn) {
            Ok(()) => Ok(value),
            Err(e) => {
                let _ = Manager::rollback_transaction(conn);
                Err(e.into())
            }
        },
        Err(e) => {
            Manager::rollback_transaction(conn)?;
            Err(e)
        }
    }
}

/// Runs blocking work (a service call) off the async executor, on its blocking pool, with
/// a pooled connection and the current time, within the statement budget
/// (`db::statement_limit`).
pub async fn run_blocking<T, F>(db: &Database, clock: &Clock, f: F) -> Result<T, AppError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConnection, PrimitiveDateTime) -> Result<T, AppError> + Send + 'static,
{
    let pool = db.pool.clone();
    let now = clock.now();
    // What the service logs carries the request's id (the web crate's `web::logging`).
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        span.in_scope(|| {
            crate::db::statement_limit::within(crate::db::statement_limit::BUDGET, || {
                let mut conn = pool.get()?;
                f(&mut conn, now)
            })
        })
    })
    .await
    .map_err(AppError::internal)?
}
