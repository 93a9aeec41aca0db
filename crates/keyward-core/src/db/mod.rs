//! Storage: the one connection type over SQLite and PostgreSQL, the pool, migrations and
//! readiness. Everything that touches diesel lives below this module or in `services/`.

pub mod key_pipeline;
pub mod key_reader;
pub mod models;
pub mod schema;
pub mod statement_limit;

pub use key_reader::KeyReader;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, PooledConnection};
use diesel::{PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// Held while migrating PostgreSQL, so instances that start together do not race.
const MIGRATION_LOCK_KEY: i64 = 0x006b_6579_7761_7264; // "keyward"

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

impl DbConnection {
    pub fn backend(&self) -> Backend {
        match self {
            DbConnection::Postgres(_) => Backend::Postgres,
            DbConnection::Sqlite(_) => Backend::Sqlite,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database URL whose scheme chose the backend. `Debug` and `Display` hide any password.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => f.write_str(&redact_url_password(url)),
        }
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`; also hides a
/// `password=` query parameter.
pub fn redact_url_password(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        // The last `@` before the query ends the user info; passwords may hold `/` or `#`.
        let authority_end = out[rest_start..]
            .find('?')
            .map(|i| rest_start + i)
            .unwrap_or(out.len());
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let userinfo = &out[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                let start = rest_start + colon + 1;
                out.replace_range(start..rest_start + at, "***");
            }
        }
    }
    if let Some(q) = out.find("password=") {
        let start = q + "password=".len();
        let end = out[start..]
            .find('&')
            .map(|i| start + i)
            .unwrap_or(out.len());
        out.replace_range(start..end, "***");
    }
    out
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if let Some(path) = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err("the SQLite database URL names no file: use sqlite://keyward.db or sqlite:///var/lib/keyward/keyward.db".into());
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(raw.to_string()));
        }
        Err(format!(
            "the database URL {} is not understood: it must start with sqlite:// or postgres://",
            redact_url_password(raw)
        ))
    }

    pub fn backend(&self) -> Backend {
        match self {
            DatabaseUrl::Sqlite(_) => Backend::Sqlite,
            DatabaseUrl::Postgres(_) => Backend::Postgres,
        }
    }

    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            DatabaseUrl::Sqlite(p) => Some(p),
            DatabaseUrl::Postgres(_) => None,
        }
    }

    /// Establishes the chosen backend directly, so a wrong password or path is reported
    /// as itself (MultiConnection's own `establish` would drop the real error). Creates
    /// the SQLite file when it does not exist: for the start-up connection only.
    pub fn establish(&self) -> Result<DbConnection, r2d2::Error> {
        self.connect(true)
    }

    /// `establish`, but a SQLite file that does not exist is an error, never created: what
    /// pooled connections use, so a file deleted under a running server stays gone (and
    /// `/readyz` says so) instead of coming back empty.
    pub fn establish_existing(&self) -> Result<DbConnection, r2d2::Error> {
        self.connect(false)
    }

    fn connect(&self, create: bool) -> Result<DbConnection, r2d2::Error> {
        match self {
            DatabaseUrl::Sqlite(path) => {
                let path_str = path.to_str().ok_or_else(|| {
                    r2d2::Error::ConnectionError(ConnectionError::InvalidConnectionUrl(
                        "the SQLite path is not valid UTF-8".into(),
                    ))
                })?;
                let target = if create {
                    create_private_file(path).map_err(|e| {
                        r2d2::Error::ConnectionError(ConnectionError::BadConnection(format!(
                            "cannot create the SQLite database {}: {e}",
                            path.display()
                        )))
                    })?;
                    path_str.to_string()
                } else {
                    existing_file_uri(path_str)
                };
                statement_limit::install_for_sqlite();
                let mut conn =
                    SqliteConnection::establish(&target).map_err(r2d2::Error::ConnectionError)?;
                // busy_timeout first: switching a new file to WAL takes a lock. A page
                // cache of 1 MiB per connection instead of SQLite's 2 MiB: a server holds
                // about ten connections, each filling its cache with the index pages of a
                // large count, while the kernel's page cache (not counted as the server's
                // memory) keeps the file's pages anyway (docs/PERFORMANCE.md).
                conn.batch_execute(
                    "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                     PRAGMA cache_size = -1024;",
                )
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
            DatabaseUrl::Postgres(url) => {
                keep_openssl_through_exit();
                PgConnection::establish(url)
                    .map(DbConnection::Postgres)
                    .map_err(r2d2::Error::ConnectionError)
            }
        }
    }
}

/// Sets OpenSSL up before libpq first does (for a TLS connection) the way the `openssl`
/// crate does: without the `atexit` handler that otherwise tears OpenSSL down on the
/// exiting thread while other threads may still be inside it on a PostgreSQL connection (a
/// pool's, a server's being dropped). The test process crashed that way at exit, with
/// SIGSEGV in libcrypto (and earlier with `free(): invalid pointer`). Nothing needs the
/// clean-up: the process is ending. Idempotent and cheap after the first call; only the
/// first call in a process counts, so anything connecting to PostgreSQL other than
/// through `DatabaseUrl` (the tests' own connections) calls it first too.
pub fn keep_openssl_through_exit() {
    openssl_sys::init();
}

/// A SQLite URI that opens `path` read-write without creating it (`mode=rw`; diesel opens
/// with `SQLITE_OPEN_URI`). The characters a URI gives a meaning to are escaped.
fn existing_file_uri(path: &str) -> String {
    let mut uri = String::from("file:");
    for c in path.chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push_str("?mode=rw");
    uri
}

/// Creates the SQLite file readable by its owner only (it holds password hashes) when it
/// does not exist yet; an existing file keeps its mode. SQLite gives the `-wal` and `-shm`
/// files the database file's mode, so they are 0600 too.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The r2d2 manager: opens connections of the backend the URL chose.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    url: DatabaseUrl,
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    /// Pooled connections serve requests: on PostgreSQL their statements stop at the
    /// request budget (`statement_limit`; SQLite's limit is set per call).
    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        let mut conn = self.url.establish_existing()?;
        if let DbConnection::Postgres(c) = &mut conn {
            c.batch_execute(&statement_limit::postgres_setting())
                .map_err(r2d2::Error::QueryError)?;
        }
        Ok(conn)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    /// A connection given back while its thread panics may still be inside a transaction
    /// (on SQLite, holding the write lock): never reuse it.
    fn has_broken(&self, _conn: &mut DbConnection) -> bool {
        std::thread::panicking()
    }
}

pub type Pool = r2d2::Pool<ConnectionManager>;
pub type PooledConn = PooledConnection<ConnectionManager>;

/// The pool plus what readiness needs to know about the database behind it.
#[derive(Clone)]
pub struct Database {
    pub pool: Pool,
    pub url: DatabaseUrl,
    /// Where the key-verification read runs (see `key_reader`).
    pub keys: KeyReader,
    /// SQLite: the (device, inode) of the file opened at start-up, so readiness notices a
    /// file deleted or replaced under an open handle.
    file_identity: Option<(u64, u64)>,
}

fn file_identity(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path)?;
    Ok((meta.dev(), meta.ino()))
}

impl Database {
    /// Opens (creating a SQLite file if needed), migrates and pools the database, for a
    /// server with as many worker threads as the machine has cores.
    pub fn open(url: &DatabaseUrl) -> Result<Self, String> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::open_for_workers(url, cores)
    }

    /// `open` for a server with `workers` worker threads: the key path's pool fits them.
    pub fn open_for_workers(url: &DatabaseUrl, workers: usize) -> Result<Self, String> {
        drop(Self::connect_once(url)?);
        // SQLite: two connections per worker (a write may wait for the file's lock while
        // reads go on), at least 4, at most 8; each holds a page cache and prepared
        // statements, and more than the cores can use only hold memory.
        let max_size = match url.backend() {
            Backend::Sqlite => (2 * workers as u32).clamp(4, 8),
            Backend::Postgres => 16,
        };
        let pool = r2d2::Pool::builder()
            .max_size(max_size)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(5))
            // A PostgreSQL connection can die under us (server restart); check it on
            // check-out. A SQLite file handle cannot, so skip the extra query there.
            .test_on_check_out(url.backend() == Backend::Postgres)
            .build(ConnectionManager { url: url.clone() })
            .map_err(|e| format!("cannot open a connection pool for {url}: {e}"))?;
        let file_identity =
            match url {
                DatabaseUrl::Sqlite(path) => Some(file_identity(path).map_err(|e| {
                    format!("cannot read the SQLite database {}: {e}", path.display())
                })?),
                DatabaseUrl::Postgres(_) => None,
            };
        Ok(Self {
            pool,
            url: url.clone(),
            keys: KeyReader::new(url, workers)?,
            file_identity,
        })
    }

    pub fn backend(&self) -> Backend {
        self.url.backend()
    }

    /// One migrated connection and no pool, for short-lived commands: a pool's background
    /// threads still holding libpq connections while the process exits can crash it.
    pub fn connect_once(url: &DatabaseUrl) -> Result<DbConnection, String> {
        check_sqlite_folder(url)?;
        // Another instance migrating a fresh SQLite file holds it exclusively; on a busy
        // machine that can outlast one busy_timeout (5 s), so a locked file is tried
        // again, for at most 30 s in all, before the start fails.
        let started = std::time::Instant::now();
        let locked = |e: &str| {
            e.contains("database is locked") && started.elapsed() < Duration::from_secs(30)
        };
        loop {
            let mut conn = match url.establish() {
                Ok(conn) => conn,
                Err(e) if locked(&describe(&e)) => {
                    std::thread::sleep(Duration::from_millis(200));
                    continue;
                }
                Err(e) => {
                    return Err(format!(
                        "cannot connect to the database {url}: {}",
                        describe(&e)
                    ))
                }
            };
            match run_migrations(&mut conn) {
                Ok(_) => return Ok(conn),
                Err(e) if locked(&e) => std::thread::sleep(Duration::from_millis(200)),
                Err(e) => return Err(format!("cannot migrate the database {url}: {e}")),
            }
        }
    }

    /// Whether the database still answers; `Err` says why not. Blocking: call it in
    /// `web::block`.
    pub fn check_ready(&self) -> Result<(), String> {
        if let (DatabaseUrl::Sqlite(path), Some(expected)) = (&self.url, self.file_identity) {
            match file_identity(path) {
                Ok(found) if found == expected => {}
                Ok(_) => return Err("the SQLite database file was replaced".into()),
                Err(_) => return Err("the SQLite database file is gone".into()),
            }
        }
        let mut conn = self
            .pool
            .get()
            .map_err(|_| "no database connection could be had".to_string())?;
        conn.batch_execute("SELECT 1")
            .map_err(|_| "the database did not answer".to_string())
    }
}

fn check_sqlite_folder(url: &DatabaseUrl) -> Result<(), String> {
    if let DatabaseUrl::Sqlite(path) = url {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            if !parent.is_dir() {
                return Err(format!(
                    "cannot open the SQLite database {}: the folder {} does not exist",
                    path.display(),
                    parent.display()
                ));
            }
        }
    }
    Ok(())
}

fn describe(e: &r2d2::Error) -> String {
    match e {
        r2d2::Error::ConnectionError(c) => c.to_string().trim().to_string(),
        r2d2::Error::QueryError(q) => q.to_string(),
    }
}

/// Serialises changes to one tenant's members and keys on PostgreSQL (a row lock on the
/// tenant, held to the end of the transaction), so checks such as "the last human admin"
/// cannot be raced. SQLite needs nothing: write transactions are `BEGIN IMMEDIATE`.
/// Serialises the transactions that count and add sign-ins through the OpenID provider
/// (PostgreSQL: a transaction-scoped advisory lock; SQLite's `BEGIN IMMEDIATE` already
/// serialises writers), so racing starts cannot pass a limit together.
pub fn lock_oidc_flows(conn: &mut DbConnection) -> QueryResult<()> {
    match conn {
        DbConnection::Postgres(c) => {
            diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext('keyward.oidc_flows'))")
                .execute(c)
                .map(drop)
        }
        DbConnection::Sqlite(_) => Ok(()),
    }
}

pub fn lock_tenant(conn: &mut DbConnection, tenant_id: &str) -> QueryResult<()> {
    match conn {
        DbConnection::Postgres(c) => {
            diesel::sql_query("SELECT id FROM tenants WHERE id = $1 FOR UPDATE")
                .bind::<diesel::sql_types::Text, _>(tenant_id)
                .execute(c)
                .map(drop)
        }
        DbConnection::Sqlite(_) => Ok(()),
    }
}

/// Runs pending migrations under a lock, so instances that start together on a fresh
/// database do not both create its tables: on PostgreSQL an advisory lock, on SQLite one
/// `BEGIN EXCLUSIVE` transaction around them all (each migration becomes a savepoint; a
/// second instance waits `busy_timeout`, then finds nothing left to do).
pub fn run_migrations(conn: &mut DbConnection) -> Result<usize, String> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    match conn {
        DbConnection::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN EXCLUSIVE")
                .map_err(|e| e.to_string())?;
            let result = c
                .run_pending_migrations(SQLITE_MIGRATIONS)
                .map(|v| v.len())
                .map_err(|e| e.to_string());
            let ended = match result {
                Ok(_) => AnsiTransactionManager::commit_transaction(c),
                Err(_) => AnsiTransactionManager::rollback_transaction(c),
            };
            let count = result?;
            ended.map_err(|e| e.to_string())?;
            Ok(count)
        }
        DbConnection::Postgres(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
                .map_err(|e| e.to_string())?;
            let result = c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.len())
                .map_err(|e| e.to_string());
            let _ = c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"));
            result
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url_password;

    #[test]
    fn passwords_in_database_urls_are_hidden() {
        for (url, shown) in [
            (
                "postgres://kw:secret@db/keyward",
                "postgres://kw:***@db/keyward",
            ),
            (
                "postgres://kw:ab/cd+ef@db:5432/keyward",
                "postgres://kw:***@db:5432/keyward",
            ),
            (
                "postgres://kw:a#b@c@db/keyward?sslmode=require",
                "postgres://kw:***@db/keyward?sslmode=require",
            ),
            (
                "postgres://db/keyward?user=kw&password=secret",
                "postgres://db/keyward?user=kw&password=***",
            ),
            ("postgres://kw@db/keyward", "postgres://kw@db/keyward"),
        ] {
            assert_eq!(redact_url_password(url), shown);
        }
    }
}
