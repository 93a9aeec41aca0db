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
//! sees it in `pg_stat_activity`; it carries the same `statement_timeout` as the pools.
//! It must reach the same server, database and user as the pools, as safely: libpq reads
//! the URL and also the environment (`PGHOST`, `PGPORT`, `PGDATABASE`, `PGUSER`,
//! `PGSSLMODE`, `PGSSLROOTCERT`, …) and `~/.postgresql/root.crt` (which turns
//! `sslmode=require` into a CA check), tokio-postgres only the URL. So the pipeline is
//! used only when none of those is present (`Pipeline::for_url`); then, for the URL alone,
//! it speaks TLS when and as libpq would: with `sslmode=prefer` (libpq's default) or
//! `require`, encrypted whenever the server offers it, without a certificate check (libpq
//! checks only under `verify-ca` / `verify-full`, which tokio-postgres refuses to parse:
//! such URLs get the blocking read, checked by libpq). An attacker who could answer the
//! key read could let any token in, so "as safely as the pools" is the rule.

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
/// How long opening the connection may take (the request that opens it waits).
const CONNECT_WAIT: Duration = Duration::from_secs(2);
/// After a connection could not be opened, or failed or was slow, how long this thread
/// reads the blocking way before it tries again: a struggling database gets no storm of
/// new connections.
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
    /// The pipeline for `url`, or `None` (every key read the blocking way) when libpq would
    /// read settings for this server's connections beyond the URL (see the module's
    /// comment): the pipelined connection could then reach another database, or the same
    /// one less safely.
    pub fn for_url(id: u64, url: &str) -> Option<Self> {
        let variables = std::env::vars_os().filter_map(|(name, _)| name.into_string().ok());
        let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
        if let Some(beyond) = libpq_settings_beyond_the_url(variables, home.as_deref()) {
            tracing::info!(
                settings = %beyond,
                "PostgreSQL key reads use the blocking pool: libpq reads settings beyond the URL that the pipelined connection would not"
            );
            return None;
        }
        Some(Self {
            id,
            url: url.to_string(),
            warned: AtomicBool::new(false),
        })
    }

    /// The key, its account and membership by digest when this thread's connection found
    /// it; `None` means "read it the blocking way" (see the module's comment).
    pub async fn authenticate(&self, digest: &str) -> Option<KeyCheck> {
        let conn = self.connection().await?;
        match tokio::time::timeout(READ_WAIT, ApiKey::authenticate_pipelined(&conn, digest)).await {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "a pipelined key read failed; reading the blocking way");
                self.close(&conn);
                None
            }
            Err(_) => {
                tracing::debug!(
                    "a pipelined key read did not answer within 2 s; reading the blocking way"
                );
                self.close(&conn);
                None
            }
        }
    }

    /// Gives up `failed`, unless this thread has opened another since, and reads the
    /// blocking way for `RETRY_AFTER`.
    fn close(&self, failed: &Rc<AsyncPgConnection>) {
        CONNECTION.with(|slot| {
            let mut slot = slot.borrow_mut();
            if matches!(slot.as_ref(), Some((id, State::Open(open))) if *id == self.id && Rc::ptr_eq(open, failed))
            {
                *slot = Some((
                    self.id,
                    State::Closed {
                        retry_at: Instant::now() + RETRY_AFTER,
                    },
                ));
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
                            _ => "no answer within 2 s".to_string(),
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

/// What libpq would read for this process's connections besides the URL: `PG*`
/// environment variables and `~/.postgresql/root.crt`; `None` when there is nothing.
fn libpq_settings_beyond_the_url(
    variables: impl Iterator<Item = String>,
    home: Option<&std::path::Path>,
) -> Option<String> {
    let mut found: Vec<String> = variables.filter(|name| name.starts_with("PG")).collect();
    if let Some(root_crt) = home
        .map(|home| home.join(".postgresql/root.crt"))
        .filter(|path| path.exists())
    {
        found.push(root_crt.display().to_string());
    }
    (!found.is_empty()).then(|| found.join(", "))
}

/// Opens a connection with the URL's own settings, TLS as libpq would use it, the
/// statement limit of the pools, and the name operators see.
async fn open(url: &str) -> Result<AsyncPgConnection, String> {
    // The parser's message may quote part of the URL, a password's characters included.
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|_| "tokio-postgres cannot read this URL (libpq can)".to_string())?;
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

#[cfg(test)]
mod tests {
    use super::libpq_settings_beyond_the_url;

    fn names(list: &[&str]) -> impl Iterator<Item = String> {
        list.iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn libpq_environment_variables_or_a_root_certificate_turn_the_pipeline_off() {
        let home = std::env::temp_dir().join(format!("keyward-pipeline-{}", std::process::id()));
        std::fs::create_dir_all(home.join(".postgresql")).unwrap();
        assert_eq!(
            libpq_settings_beyond_the_url(names(&["HOME", "KEYWARD_DATABASE_URL"]), Some(&home)),
            None
        );
        assert_eq!(
            libpq_settings_beyond_the_url(names(&["PGSSLMODE", "PATH"]), Some(&home)).as_deref(),
            Some("PGSSLMODE")
        );
        std::fs::write(home.join(".postgresql/root.crt"), "").unwrap();
        let found = libpq_settings_beyond_the_url(names(&["PATH"]), Some(&home)).unwrap();
        assert!(found.ends_with(".postgresql/root.crt"), "{found}");
        std::fs::remove_dir_all(&home).unwrap();
    }
}
