//! PostgreSQL's key read without a thread hand-off: each server worker thread keeps one
//! asynchronous connection (`diesel-async` over `tokio-postgres`), and the key reads of
//! the requests that thread serves go out on it together, pipelined. Before it, every
//! read went to the blocking pool and back, and the profile put a third of the server's
//! time in that hand-off and the blocking thread's sleep on its socket
//! (docs/PERFORMANCE.md, issue 32).
//!
//! It only accelerates: a read answers here only when it found the key. Anything else —
//! no such key (whose refusal message needs more reads), an error, a slow answer, a
//! connection not open yet or that cannot be opened (a URL whose settings only libpq
//! reads: `PGPASSWORD`, `.pgpass`, `sslmode=verify-full`, …) — goes to the blocking read
//! of `key_reader`, which has the retries and the error answers. Every read is its own
//! statement on an autocommit connection, so it sees every commit before it: revocation
//! stays exact.
//!
//! The connection names itself `keyward key reads` (`application_name`), so an operator
//! sees it in `pg_stat_activity`; it carries the same `statement_timeout` as the pools,
//! and speaks TLS exactly when and as libpq would for the URL: with `sslmode=prefer`
//! (libpq's default) or `require`, encrypted whenever the server offers it and without
//! checking its certificate (libpq checks only under `verify-ca` / `verify-full`, which
//! tokio-postgres does not read: such URLs get the blocking read, checked by libpq).

use crate::db::models::api_key::{ApiKey, KeyCheck};
use crate::db::statement_limit;
use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The `application_name` of the pipelined connections.
pub const APPLICATION_NAME: &str = "keyward key reads";

/// A read that has not answered by then gives up its connection (the network may be
/// gone) and the request takes the blocking read.
const READ_WAIT: Duration = Duration::from_secs(2);
/// How long opening the connection may take.
const CONNECT_WAIT: Duration = Duration::from_secs(5);
/// After a connection could not be opened, how long this thread reads the blocking way
/// before it tries again.
const RETRY_AFTER: Duration = Duration::from_secs(10);

enum State {
    /// A request of this thread is opening it; the others read the blocking way meanwhile.
    Opening,
    Open(Rc<AsyncPgConnection>),
    /// Not open; try again from `retry_at`.
    Closed {
        retry_at: Instant,
    },
}

thread_local! {
    /// This thread's connection, and which `Pipeline` (which database) it belongs to.
    static CONNECTION: RefCell<Option<(u64, State)>> = const { RefCell::new(None) };
}

/// The pipelined key reads of one database (one per `KeyReader` on PostgreSQL).
pub struct Pipeline {
    id: u64,
    url: String,
    /// Whether "cannot open" has been logged once already.
    warned: AtomicBool,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password.
        f.debug_struct("Pipeline")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

enum Next {
    Read(Rc<AsyncPgConnection>),
    Open,
    BlockingRead,
}

/// Marks this thread's connection closed (to be opened again from `retry_at`) when a
/// request that was opening it is dropped before it finished.
struct OpeningGuard {
    id: u64,
    armed: bool,
}

impl Drop for OpeningGuard {
    fn drop(&mut self) {
        if self.armed {
            set_state(
                self.id,
                State::Closed {
                    retry_at: Instant::now(),
                },
            );
        }
    }
}

fn set_state(id: u64, state: State) {
    CONNECTION.with(|slot| *slot.borrow_mut() = Some((id, state)));
}

impl Pipeline {
    pub fn new(id: u64, url: &str) -> Self {
        Self {
            id,
            url: url.to_string(),
            warned: AtomicBool::new(false),
        }
    }

    /// The key, its account and membership by digest when this thread's connection found
    /// it; `None` means "read it the blocking way" (see the module's comment).
    pub async fn authenticate(&self, digest: &str) -> Option<KeyCheck> {
        let conn = self.connection().await?;
        match tokio::time::timeout(READ_WAIT, ApiKey::authenticate_pipelined(&conn, digest)).await {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "a pipelined key read failed; reading the blocking way");
                self.close(Instant::now());
                None
            }
            Err(_) => {
                tracing::debug!(
                    "a pipelined key read did not answer within 2 s; reading the blocking way"
                );
                self.close(Instant::now());
                None
            }
        }
    }

    fn close(&self, retry_at: Instant) {
        CONNECTION.with(|slot| {
            let mut slot = slot.borrow_mut();
            if slot.as_ref().is_some_and(|(id, _)| *id == self.id) {
                *slot = Some((self.id, State::Closed { retry_at }));
            }
        });
    }

    async fn connection(&self) -> Option<Rc<AsyncPgConnection>> {
        let next = CONNECTION.with(|slot| {
            let mut slot = slot.borrow_mut();
            match slot.as_ref() {
                Some((id, State::Open(conn))) if *id == self.id => Next::Read(conn.clone()),
                Some((id, State::Opening)) if *id == self.id => Next::BlockingRead,
                Some((id, State::Closed { retry_at }))
                    if *id == self.id && Instant::now() < *retry_at =>
                {
                    Next::BlockingRead
                }
                // Nothing yet, closed and due to be opened again, or another database's
                // (tests run several servers in one process): open this one's.
                _ => {
                    *slot = Some((self.id, State::Opening));
                    Next::Open
                }
            }
        });
        match next {
            Next::Read(conn) => Some(conn),
            Next::BlockingRead => None,
            Next::Open => {
                let mut guard = OpeningGuard {
                    id: self.id,
                    armed: true,
                };
                let opened = tokio::time::timeout(CONNECT_WAIT, open(&self.url)).await;
                guard.armed = false;
                match opened {
                    Ok(Ok(conn)) => {
                        let conn = Rc::new(conn);
                        set_state(self.id, State::Open(conn.clone()));
                        Some(conn)
                    }
                    failed => {
                        let reason = match failed {
                            Ok(Err(reason)) => reason,
                            _ => "no answer within 5 s".to_string(),
                        };
                        if !self.warned.swap(true, Ordering::Relaxed) {
                            tracing::warn!(
                                reason = %reason,
                                "PostgreSQL key reads use the blocking pool: the pipelined connection could not be opened (tried again every 10 s)"
                            );
                        }
                        set_state(
                            self.id,
                            State::Closed {
                                retry_at: Instant::now() + RETRY_AFTER,
                            },
                        );
                        None
                    }
                }
            }
        }
    }
}

/// Opens a connection with the URL's own settings, TLS as libpq would use it, the
/// statement limit of the pools, and the name operators see.
async fn open(url: &str) -> Result<AsyncPgConnection, String> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e: tokio_postgres::Error| format!("the URL: {e}"))?;
    config.application_name(APPLICATION_NAME);
    crate::db::keep_openssl_through_exit();
    let mut connector = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls())
        .map_err(|e| format!("TLS set-up: {e}"))?;
    // libpq's `prefer` and `require`: encryption, no certificate check (see above).
    connector.set_verify(openssl::ssl::SslVerifyMode::NONE);
    let mut tls = postgres_openssl::MakeTlsConnector::new(connector.build());
    tls.set_callback(|connect, _| {
        connect.set_verify_hostname(false);
        Ok(())
    });
    let (client, connection) = config.connect(tls).await.map_err(|e| e.to_string())?;
    let conn = AsyncPgConnection::try_from_client_and_connection(client, connection)
        .await
        .map_err(|e| e.to_string())?;
    let mut shared = &conn;
    shared
        .batch_execute(&statement_limit::postgres_setting())
        .await
        .map_err(|e| e.to_string())?;
    Ok(conn)
}
