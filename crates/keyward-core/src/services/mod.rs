//! Use cases. Each public function is one transaction, asks `permissions` before it acts,
//! and writes an audit event when it changes state; reads write nothing (but the
//! once-a-minute `last_used_at` of the auth pipeline). Services never touch HTTP.
//! All of them block: call them inside `web::block` (see `web::state::AppState::run`).

pub mod accounts;
pub mod actor;
pub mod agents;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod guess_limits;
pub mod housekeeping;
pub mod invitations;
pub mod key_clients;

pub mod key_expiry;

pub mod ip_allow;
pub mod key_lists;
pub mod key_policy;
pub mod key_revocation;
pub mod key_rotation;
pub mod mail;
pub mod members;
pub mod outbox;
pub mod paging;
pub mod passwords;
pub mod permissions;
pub mod recovery;
pub mod service_accounts;
pub mod sessions;
pub mod setup;
pub mod sign_in;
pub mod team_lists;
pub mod tenants;
pub mod two_factor;

pub use actor::{Actor, Principal};

use crate::db::DbConnection;
use crate::error::AppError;
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::Connection;

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
