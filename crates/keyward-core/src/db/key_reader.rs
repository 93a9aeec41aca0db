//! Where the key-verification read runs (DESIGN §4, §6): the one read every API request
//! makes, kept off the paths that sign-ins and service calls share.
//!
//! - **SQLite**: each server worker thread keeps a connection of its own and runs the
//!   read right there, on the thread that parsed the request: no hand-off to a blocking
//!   thread, no pool check-out. In WAL mode a reader never waits for a writer (it reads
//!   the last commit), so this does not stall the executor. Each read is its own read
//!   transaction, so it sees every commit made before it, by any connection or process.
//! - **PostgreSQL**: a pool of its own, sized to the workers, whose connections are not
//!   tested with a `SELECT 1` on every check-out; a read whose connection fails is
//!   retried on another connection (up to every pooled one, then a new one) and the
//!   failed one is dropped. It runs on the blocking pool (a network round trip must
//!   not stall a worker) once it has a turn: as many turns as connections, handed out
//!   first come, first served, so no request holds a thread while it waits and none is
//!   overtaken without end. Before that, each worker tries its own pipelined
//!   asynchronous connection (`key_pipeline`), which needs no thread at all.

use crate::db::key_pipeline::Pipeline;
use crate::db::models::api_key::KeyCheck;
use crate::db::{Backend, DatabaseUrl, DbConnection};
use diesel::r2d2::{self, ManageConnection};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a PostgreSQL key read waits for its turn before the request is answered 503.
const TURN_WAIT: Duration = Duration::from_secs(2);

/// Tells one database (one `KeyReader`) from another when several servers share a
/// process, as the tests do.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's SQLite connection, and which `KeyReader` it belongs to.
    static THREAD_CONNECTION: RefCell<Option<(u64, DbConnection)>> = const { RefCell::new(None) };
}

/// A pooled connection that can be marked as failed, so the pool drops it.
pub struct KeyConnection {
    pub conn: DbConnection,
    failed: bool,
}

#[derive(Debug, Clone)]
pub struct KeyConnectionManager {
    url: DatabaseUrl,
}

impl ManageConnection for KeyConnectionManager {
    type Connection = KeyConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<KeyConnection, r2d2::Error> {
        Ok(KeyConnection {
            conn: self.url.establish_existing()?,
            failed: false,
        })
    }

    fn is_valid(&self, conn: &mut KeyConnection) -> Result<(), r2d2::Error> {
        use diesel::connection::SimpleConnection;
        conn.conn
            .batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut KeyConnection) -> bool {
        conn.failed || std::thread::panicking()
    }
}

#[derive(Clone)]
pub struct KeyReader {
    id: u64,
    url: DatabaseUrl,
    pool: Option<r2d2::Pool<KeyConnectionManager>>,
    /// PostgreSQL: one turn per pooled connection, taken (first come, first served, with
    /// no thread held while waiting) before a read goes to the blocking pool.
    turns: Option<Arc<Semaphore>>,
    /// PostgreSQL: the worker's own asynchronous connection, tried first (`key_pipeline`).
    pipeline: Option<Arc<Pipeline>>,
}

/// Whether an error may come from a connection that died (then the read is retried).
pub trait MaybeConnectionFailure {
    fn may_be_connection_failure(&self) -> bool;
}

impl KeyReader {
    /// `workers` is the number of server worker threads.
    pub fn new(url: &DatabaseUrl, workers: usize) -> Result<Self, String> {
        // Four per worker (2 to 32 in all): reads of a worker overlap while others are
        // being set up or dropped as dead.
        let size = (workers * 4).clamp(2, 32) as u32;
        let pool = match url.backend() {
            Backend::Sqlite => None,
            Backend::Postgres => Some(
                r2d2::Pool::builder()
                    .max_size(size)
                    .min_idle(Some(1))
                    .connection_timeout(Duration::from_secs(5))
                    .test_on_check_out(false)
                    .build(KeyConnectionManager { url: url.clone() })
                    .map_err(|e| format!("cannot open a connection pool for {url}: {e}"))?,
            ),
        };
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        Ok(Self {
            id,
            url: url.clone(),
            turns: pool
                .is_some()
                .then(|| Arc::new(Semaphore::new(size as usize))),
            pipeline: match url {
                DatabaseUrl::Postgres(raw) => Pipeline::for_url(id, raw).map(Arc::new),
                DatabaseUrl::Sqlite(_) => None,
            },
            pool,
        })
    }

    /// PostgreSQL: the key read on this worker's pipelined connection; `None` when it did
    /// not find the key there (then read it with `read_pooled`) and always on SQLite.
    pub async fn authenticate_pipelined(&self, digest: &str) -> Option<KeyCheck> {
        self.pipeline.as_ref()?.authenticate(digest).await
    }

    /// PostgreSQL: waits for a turn to read (one per pooled connection) without holding
    /// a thread, in arrival order. Without it, every waiting request held a blocking
    /// thread parked on the pool's condition variable, which wakes waiters in no
    /// particular order: a tail far above the median once the machine is busy
    /// (docs/PERFORMANCE.md). `None` on SQLite, which reads on the worker itself.
    /// A turn not had within `TURN_WAIT` means the database is not keeping up (or is
    /// down, each read then waiting for a connection that does not come): `Err`, so
    /// the request is answered 503 at once rather than queued behind the others.
    pub async fn turn(&self) -> Result<Option<OwnedSemaphorePermit>, r2d2::Error> {
        let Some(turns) = self.turns.clone() else {
            return Ok(None);
        };
        match tokio::time::timeout(TURN_WAIT, turns.acquire_owned()).await {
            Ok(Ok(turn)) => Ok(Some(turn)),
            _ => Err(r2d2::Error::ConnectionError(
                diesel::ConnectionError::BadConnection(
                    "no key read could start within 2 s: the database is not keeping up".into(),
                ),
            )),
        }
    }

    /// SQLite: runs `read` on this thread with this thread's own connection (opened on
    /// first use). `None` on PostgreSQL: use `read_pooled` off the executor instead.
    pub fn read_here<T, E>(
        &self,
        read: impl FnOnce(&mut DbConnection) -> Result<T, E>,
    ) -> Option<Result<T, E>>
    where
        E: From<r2d2::Error> + MaybeConnectionFailure,
    {
        if self.pool.is_some() {
            return None;
        }
        Some(THREAD_CONNECTION.with(|slot| {
            let mut slot = slot.borrow_mut();
            if slot.as_ref().is_none_or(|(id, _)| *id != self.id) {
                *slot = None;
                *slot = Some((self.id, self.url.establish_existing()?));
            }
            let (_, conn) = slot.as_mut().expect("set above");
            let result = read(conn);
            if result
                .as_ref()
                .is_err_and(|e| e.may_be_connection_failure())
            {
                // Opened again on the next read.
                *slot = None;
            }
            result
        }))
    }

    /// PostgreSQL: runs `read` with a connection of the key pool; blocking, so call it
    /// off the executor. A read that fails in a way a dead connection would is retried
    /// on another connection, each dead one dropped. `None` on SQLite: use `read_here`.
    pub fn read_pooled<T, E>(
        &self,
        read: impl Fn(&mut DbConnection) -> Result<T, E>,
    ) -> Option<Result<T, E>>
    where
        E: From<r2d2::PoolError> + MaybeConnectionFailure,
    {
        let pool = self.pool.as_ref()?;
        // Every pooled connection may have died at once (a database restart, or
        // `pg_terminate_backend`), and a dead one fails fast: try each, then a new one.
        let mut attempts_left = pool.max_size() + 1;
        Some(loop {
            let mut conn = match pool.get() {
                Ok(conn) => conn,
                Err(e) => break Err(E::from(e)),
            };
            match read(&mut conn.conn) {
                Err(e) if e.may_be_connection_failure() => {
                    conn.failed = true;
                    attempts_left -= 1;
                    if attempts_left == 0 {
                        break Err(e);
                    }
                }
                other => break other,
            }
        })
    }
}
