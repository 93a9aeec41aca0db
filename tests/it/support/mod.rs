//! The test harness: the real server on port 0 against a fresh SQLite file, or a fresh
//! PostgreSQL database when `KEYWARD_TEST_POSTGRES_URL` is set. `backend_tests!` runs
//! each test on both backends; with `CI=true` a missing PostgreSQL fails instead of
//! skipping.

#![allow(dead_code)]

pub mod browser;
pub mod oidc;
pub mod smtp;

use diesel::connection::SimpleConnection;
use diesel::Connection;
use keyward::config::{LogFormat, LogSettings, SessionSecret, Settings};
use keyward::db::{DatabaseUrl, DbConnection};
use keyward::domain::{AccountId, ApiKeyId, TenantId};
use keyward::domain::{Clock, Email, KeyName, Password, PersonName, Role, TenantName, TenantSlug};
use keyward::error::AppError;
use keyward::services::{self, Actor};
use keyward::startup::Application;
use keyward::web::AppState;
use std::path::PathBuf;
use time::PrimitiveDateTime;

pub const PASSWORD: &str = "correct horse battery staple";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn name(backend: Backend)` as `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::support::postgres_available() {
                        super::$name($crate::support::Backend::Postgres).await
                    }
                }
            )*
        }
    };
}

/// Tests that load the machine on purpose (thousands of concurrent requests, a real
/// Chromium) must not starve each other into timeouts on a 2-core machine: a load test
/// holds this exclusively, a browser test shares it with the other browser tests.
pub static HEAVY: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Whether PostgreSQL tests can run. Skipping is allowed locally, never when `CI=true`.
pub fn postgres_available() -> bool {
    if std::env::var("KEYWARD_TEST_POSTGRES_URL").is_ok_and(|v| !v.is_empty()) {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("KEYWARD_TEST_POSTGRES_URL is not set but CI=true: PostgreSQL tests must not be skipped in CI");
    }
    eprintln!("skipped on PostgreSQL: KEYWARD_TEST_POSTGRES_URL is not set");
    false
}

/// A database that exists for one test and is removed after it.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    dir: Option<PathBuf>,
    pg_admin_url: Option<String>,
    pg_name: Option<String>,
}

impl TestDb {
    pub fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir()
                    .join(format!("keyward-test-{}", uuid::Uuid::new_v4().simple()));
                std::fs::create_dir_all(&dir).expect("temp dir");
                Self {
                    url: format!("sqlite://{}", dir.join("keyward.db").display()),
                    backend,
                    dir: Some(dir),
                    pg_admin_url: None,
                    pg_name: None,
                }
            }
            Backend::Postgres => {
                let admin_url =
                    std::env::var("KEYWARD_TEST_POSTGRES_URL").expect("KEYWARD_TEST_POSTGRES_URL");
                let name = format!("keyward_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn =
                    pg_connection(&admin_url).expect("connect to KEYWARD_TEST_POSTGRES_URL");
                conn.batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create test database");
                let url = replace_database(&admin_url, &name);
                Self {
                    url,
                    backend,
                    dir: None,
                    pg_admin_url: Some(admin_url),
                    pg_name: Some(name),
                }
            }
        }
    }

    /// The same database under another handle that removes nothing when dropped (for a
    /// second server instance on it).
    pub fn borrowed(other: &TestDb) -> Self {
        Self {
            url: other.url.clone(),
            backend: other.backend,
            dir: None,
            pg_admin_url: None,
            pg_name: None,
        }
    }

    pub fn database_url(&self) -> DatabaseUrl {
        DatabaseUrl::parse(&self.url).expect("test database url")
    }

    pub fn sqlite_path(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join("keyward.db"))
    }

    pub fn pg_name(&self) -> Option<&str> {
        self.pg_name.as_deref()
    }

    /// `SELECT count(*) …` as the PostgreSQL superuser (for tests that look at
    /// `pg_stat_activity`).
    pub fn pg_admin_count(&self, sql: &str) -> i64 {
        use diesel::RunQueryDsl;
        let url = self
            .pg_admin_url
            .as_deref()
            .expect("a PostgreSQL test database");
        let mut conn = pg_connection(url).expect("admin connection");
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
            "({sql})"
        )))
        .get_result(&mut conn)
        .expect("admin count")
    }

    /// Runs SQL as the PostgreSQL superuser connection (for tests that pull the database
    /// out from under the server).
    pub fn pg_admin_execute(&self, sql: &str) {
        let url = self
            .pg_admin_url
            .as_deref()
            .expect("a PostgreSQL test database");
        let mut conn = pg_connection(url).expect("admin connection");
        conn.batch_execute(sql).expect("admin sql");
    }
}

/// A PostgreSQL connection of the test's own. OpenSSL is set up first as the server sets
/// it up: whichever connection of the process comes first decides whether OpenSSL tears
/// itself down at exit, and it did (a test's own connection came first), crashing the
/// test process at exit with SIGSEGV on an r2d2 worker still connecting through TLS.
pub fn pg_connection(url: &str) -> diesel::ConnectionResult<diesel::PgConnection> {
    keyward::db::keep_openssl_through_exit();
    diesel::PgConnection::establish(url)
}

/// `postgres://u@h:5432/db?x` → same URL naming `name` instead of `db`.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{}", &base[..path_start], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let (Some(url), Some(name)) = (&self.pg_admin_url, &self.pg_name) {
            if let Ok(mut conn) = pg_connection(url) {
                let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub clock: Clock,
    pub state: AppState,
    /// A client with a cookie jar that does not follow redirects.
    pub client: reqwest::Client,
    pub backend: Backend,
    pub db: TestDb,
}

pub fn test_settings(db: &TestDb) -> Settings {
    Settings {
        bind: "127.0.0.1:0".into(),
        database_url: db.database_url(),
        public_url: None,
        log: LogSettings {
            filter: "warn".into(),
            format: LogFormat::Pretty,
        },
        trusted_proxies: Vec::new(),
        session_secret: Some(SessionSecret::generate()),
        previous_session_secret: None,
        workers: Some(2),
        quotas: Default::default(),
        audit_retention_days: None,
        metrics_token: None,
        revocation_api_tokens: None,
        shutdown_timeout: std::time::Duration::from_secs(5),
        mail: None,
        outbox: Default::default(),
        oidc: None,

        webhook_allow_private_targets: false,
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, customize: impl FnOnce(&mut Settings)) -> TestApp {
        let db = TestDb::new(backend);
        let mut settings = test_settings(&db);
        customize(&mut settings);
        Self::start_on(settings, db, None)
    }

    /// `spawn_with`, serving on a listener the test bound already, so it knows the port
    /// before the settings are made (choosing a free port and binding it later races
    /// with every other test picking ports).
    pub async fn spawn_on(
        backend: Backend,
        listener: std::net::TcpListener,
        customize: impl FnOnce(&mut Settings),
    ) -> TestApp {
        let db = TestDb::new(backend);
        let mut settings = test_settings(&db);
        customize(&mut settings);
        Self::start_on(settings, db, Some(listener))
    }

    /// Another instance of this server: the same database and session secret, the test
    /// settings otherwise, then `customize`. Runs until the test's runtime ends.
    pub fn another_instance(&self, customize: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = test_settings(&self.db);
        settings.session_secret = self.state.settings.session_secret.clone();
        customize(&mut settings);
        // The database belongs to `self`; this one only borrows its URL.
        Self::start_on(settings, TestDb::borrowed(&self.db), None)
    }

    fn start_on(
        settings: Settings,
        db: TestDb,
        listener: Option<std::net::TcpListener>,
    ) -> TestApp {
        let clock = Clock::system();
        let app =
            Application::build_on(settings, clock.clone(), listener).expect("application builds");
        let port = app.port();
        let state = app.state().clone();
        tokio::spawn(app.run_until_stopped());
        TestApp {
            address: format!("http://127.0.0.1:{port}"),
            port,
            clock,
            state,
            client: client(),
            backend: db.backend,
            db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Runs service code against the app's database, off the async executor.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut DbConnection, PrimitiveDateTime) -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        let pool = self.state.db.pool.clone();
        let now = self.clock.now();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(AppError::from)?;
            f(&mut conn, now)
        })
        .await
        .expect("blocking task")
    }

    /// A read of the app's database (off the async executor); it must succeed.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> diesel::QueryResult<T> + Send + 'static,
    ) -> T {
        self.run(move |conn, _| Ok(f(conn)?))
            .await
            .expect("a read of the database")
    }

    pub async fn sql(&self, sql: &str) {
        let sql = sql.to_string();
        self.run(move |conn, _| conn.batch_execute(&sql).map_err(AppError::from))
            .await
            .expect("sql");
    }

    pub async fn create_tenant(&self, slug: &str) -> Seeded {
        let slug = slug.to_string();
        let tenant = self
            .run(move |conn, now| {
                services::tenants::create_tenant(
                    conn,
                    &Actor::operator(),
                    now,
                    TenantName::parse(&format!("Tenant {slug}"))?,
                    TenantSlug::parse(&slug)?,
                )
            })
            .await
            .expect("tenant");
        Seeded {
            id: tenant.id,
            name: tenant.slug,
        }
    }

    /// A person who is a member of `tenant_id` with `role`.
    pub async fn create_person(&self, email: &str, tenant_id: &str, role: Role) -> Seeded {
        let (email, tenant_id) = (email.to_string(), tenant_id.to_string());
        let account = self
            .run(move |conn, now| {
                let account = services::accounts::create_user(
                    conn,
                    &Actor::operator(),
                    now,
                    Email::parse(&email)?,
                    PersonName::parse(&email.replace('@', " at "))?,
                    keyward::services::passwords::HashedPassword::of(&Password::parse_new(
                        PASSWORD,
                    )?)?,
                )?;
                services::members::add_member(
                    conn,
                    &Actor::operator(),
                    now,
                    &TenantId::from_stored(&tenant_id),
                    &AccountId::from_stored(&account.id),
                    role,
                )?;
                Ok(account)
            })
            .await
            .expect("person");
        Seeded {
            id: account.id,
            name: account.email.unwrap_or_default(),
        }
    }

    pub async fn add_member(&self, account_id: &str, tenant_id: &str, role: Role) {
        let (account_id, tenant_id) = (account_id.to_string(), tenant_id.to_string());
        self.run(move |conn, now| {
            services::members::add_member(
                conn,
                &Actor::operator(),
                now,
                &TenantId::from_stored(&tenant_id),
                &AccountId::from_stored(&account_id),
                role,
            )
        })
        .await
        .expect("member");
    }

    pub async fn create_service_account(&self, tenant_id: &str, name: &str) -> Seeded {
        let (tenant_id, name) = (tenant_id.to_string(), name.to_string());
        let account = self
            .run(move |conn, now| {
                services::service_accounts::create_service_account(
                    conn,
                    &Actor::operator(),
                    now,
                    &TenantId::from_stored(&tenant_id),
                    PersonName::parse(&name)?,
                )
            })
            .await
            .expect("service account");
        Seeded {
            id: account.id,
            name: account.name,
        }
    }

    /// A key for `account_id` in `tenant_id`, made by an operator; returns (key id, secret).
    pub async fn create_key(
        &self,
        account_id: &str,
        tenant_id: &str,
        expires_at: Option<PrimitiveDateTime>,
    ) -> (String, String) {
        let (account_id, tenant_id) = (account_id.to_string(), tenant_id.to_string());
        let created = self
            .run(move |conn, now| {
                let expires_at = expires_at
                    .map(|at| keyward::domain::ExpiresAt::parse(at, now))
                    .transpose()?;
                // Names are unique per owner and tenant: "test key" for the first, then a
                // unique suffix (a count could repeat a name once a key is revoked).
                let name =
                    KeyName::parse(&match keyward::db::models::ApiKey::count_of_account_in(
                        conn,
                        &account_id,
                        &tenant_id,
                    )? {
                        0 => "test key".to_string(),
                        _ => format!(
                            "test key {}",
                            &uuid::Uuid::new_v4().simple().to_string()[..8]
                        ),
                    })?;
                services::api_keys::create_api_key(
                    conn,
                    &Actor::operator(),
                    now,
                    services::api_keys::NewApiKey {
                        account_id: AccountId::from_stored(account_id),
                        tenant_id: Some(TenantId::from_stored(tenant_id)),
                        name,
                        expires_at,
                        read_only: false,
                        allowed_ips: Default::default(),
                        description: Default::default(),
                    },
                    ApiKeyId::generate(),
                    &keyward::domain::Quotas::default(),
                )
            })
            .await
            .expect("key");
        (
            created.key.id.clone(),
            created.token.expose_secret().to_string(),
        )
    }

    /// `n` keys for `account_id` in `tenant_id`, written straight into the table with
    /// multi-row inserts (fast enough for 100,000): named `seeded key {i}`, created a second
    /// apart in 2025 (older than any key a test makes), key `i` expiring in 2020 when
    /// `i % 10 == 0` (so a tenth are expired), the rest never. They cannot authenticate.
    pub async fn seed_keys(&self, account_id: &str, tenant_id: &str, n: usize) {
        let (account_id, tenant_id) = (account_id.to_string(), tenant_id.to_string());
        let start = time::macros::datetime!(2025-01-01 00:00:00);
        let format =
            time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
        self.run(move |conn, _| {
            for chunk in (0..n).collect::<Vec<_>>().chunks(1_000) {
                let rows: Vec<String> = chunk
                    .iter()
                    .map(|i| {
                        let at = (start + time::Duration::seconds(*i as i64))
                            .format(&format)
                            .unwrap();
                        let expires = if i % 10 == 0 { "'2020-01-01 00:00:00'" } else { "NULL" };
                        format!(
                            "('{}', '{account_id}', '{tenant_id}', 'seeded key {i}', 'seeded-{}', 'kwu_…{i:04}', '{at}', {expires})",
                            uuid::Uuid::new_v4(),
                            uuid::Uuid::new_v4().simple(),
                        )
                    })
                    .collect();
                conn.batch_execute(&format!(
                    "INSERT INTO api_keys (id, account_id, tenant_id, name, token_digest, display_hint, created_at, expires_at) VALUES {}",
                    rows.join(", ")
                ))?;
            }
            Ok(())
        })
        .await
        .expect("seeded keys");
    }

    /// An invitation link to `tenant_id` with `role`, made by `creator_id` (a person who
    /// may invite people there).
    pub async fn create_invitation(
        &self,
        creator_id: &str,
        tenant_id: &str,
        role: Role,
    ) -> services::invitations::CreatedInvitation {
        let (creator, tenant) = (creator_id.to_string(), tenant_id.to_string());
        self.run(move |conn, now| {
            services::invitations::create_invitation(
                conn,
                &Actor::person(creator, None, keyward::services::SingleSignOn::Satisfied),
                now,
                &TenantId::from_stored(&tenant),
                role,
            )
        })
        .await
        .expect("invitation created")
    }

    /// Posts a GraphQL query with object variables to `/graphql` (with `headers`);
    /// returns the whole JSON answer, which must come with 200.
    pub async fn graphql(
        &self,
        key: Option<&str>,
        query: &str,
        variables: serde_json::Value,
        headers: &[(&str, &str)],
    ) -> serde_json::Value {
        let body = serde_json::json!({ "query": query, "variables": variables });
        let (status, answer) = self.post_graphql(key, &body, headers).await;
        assert_eq!(status, 200, "{answer}");
        answer
    }

    /// `graphql` with `key` and no variables.
    pub async fn gql(&self, key: &str, query: &str) -> serde_json::Value {
        self.graphql(Some(key), query, serde_json::json!({}), &[])
            .await
    }

    /// A POST to `path` with a JSON body to come, `key` and `headers`.
    pub fn post_json(
        &self,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
    ) -> reqwest::RequestBuilder {
        let mut req = self
            .client
            .post(self.url(path))
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        req
    }

    /// Posts `body` to `/graphql` (with `key` and `headers`). While the key already has
    /// its requests running (429, as when a test races many), sends it again once a place
    /// is free. The status and the answer (JSON, or the text as a string).
    pub async fn post_graphql(
        &self,
        key: Option<&str>,
        body: &serde_json::Value,
        headers: &[(&str, &str)],
    ) -> (u16, serde_json::Value) {
        eventually(
            "a place among the key's running requests",
            move || async move {
                let req = self.post_json("/graphql", key, headers);
                let res = req.body(body.to_string()).send().await.expect("request");
                let status = res.status().as_u16();
                let text = res.text().await.expect("an answer");
                let answer = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
                (status != 429).then_some((status, answer))
            },
        )
        .await
    }

    /// The status `GET /api/whoami` answers for `key`.
    pub async fn whoami_status(&self, key: &str) -> u16 {
        self.get_with_key("/api/whoami", key)
            .await
            .status()
            .as_u16()
    }

    /// `GET path` with a Bearer key.
    pub async fn get_with_key(&self, path: &str, key: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .expect("request")
    }
}

/// A server and the tenant `acme` with one admin person who has a key; returns (app, tenant id, admin id, key).
pub async fn tenant_with_admin(backend: Backend) -> (TestApp, String, String, String) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("acme").await;
    let admin = app
        .create_person("ada@example.com", &tenant.id, Role::Admin)
        .await;
    let (_, key) = app.create_key(&admin.id, &tenant.id, None).await;
    (app, tenant.id, admin.id, key)
}

#[derive(Debug, Clone)]
pub struct Seeded {
    pub id: String,
    pub name: String,
}

/// Checks `probe` every 20 ms until it gives a value; panics naming `what` after a
/// minute. The one way tests wait: a condition with a deadline, never a fixed sleep.
pub async fn eventually<T, Probe>(what: &str, mut probe: impl FnMut() -> Probe) -> T
where
    Probe: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "waited a minute for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The path to the built `keyward` binary.
pub fn keyward_bin() -> &'static str {
    env!("CARGO_BIN_EXE_keyward")
}

/// Every byte the database holds, as text: the SQLite file and its WAL read raw, or a
/// `pg_dump` of the PostgreSQL database. For tests that search storage for secrets.
pub async fn dump_database(app: &TestApp) -> String {
    match app.backend {
        Backend::Sqlite => {
            let path = app.db.sqlite_path().expect("sqlite path");
            let mut bytes = std::fs::read(&path).expect("read database");
            let mut wal = path.clone().into_os_string();
            wal.push("-wal");
            if let Ok(more) = std::fs::read(&wal) {
                bytes.extend(more);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Backend::Postgres => {
            stdout_of("pg_dump", &["--data-only", "--no-owner", &app.db.url]).await
        }
    }
}

/// What `program args…` prints; it must succeed.
async fn stdout_of(program: &str, args: &[&str]) -> String {
    let out = tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    assert!(
        out.status.success(),
        "{program}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every row of every table as one line of text each, sorted, for "nothing changed"
/// checks: SQLite's own dump (through Python's standard `sqlite3`), or `pg_dump`. The
/// `sessions` table counts only its rows: a session's `last_seen_at` moves by itself.
pub async fn database_rows(app: &TestApp) -> Vec<String> {
    const SQLITE_DUMP: &str = "import sqlite3, sys\nfor line in sqlite3.connect(sys.argv[1]).iterdump(): print(line.replace('\\n', ' '))";
    let (dump, session_row) = match app.backend {
        Backend::Sqlite => {
            let path = app.db.sqlite_path().expect("sqlite path");
            let path = path.display().to_string();
            let dump = stdout_of("python3", &["-c", SQLITE_DUMP, &path]).await;
            (dump, "INSERT INTO \"sessions\"")
        }
        Backend::Postgres => {
            let args = ["--data-only", "--inserts", "--no-owner", &app.db.url];
            (
                stdout_of("pg_dump", &args).await,
                "INSERT INTO public.sessions ",
            )
        }
    };
    let sessions = dump.lines().filter(|l| l.starts_with(session_row)).count();
    let mut rows: Vec<String> = dump
        .lines()
        .filter(|l| l.starts_with("INSERT INTO") && !l.starts_with(session_row))
        .map(str::to_string)
        .collect();
    rows.push(format!("sessions: {sessions} rows"));
    rows.sort();
    rows
}

/// `keyward` run as a real process (for the CLI and for tests that read its logs).
pub struct ServerProcess {
    child: std::process::Child,
    pub port: u16,
    log: std::sync::Arc<std::sync::Mutex<String>>,
    /// One message from each output reader when it has read to the end.
    drained: std::sync::mpsc::Receiver<()>,
}

impl ServerProcess {
    /// Starts `keyward [args]` in `dir` with `envs`, bound to port 0, and waits until it
    /// says which port it listens on. `Err` carries what it printed if it exited instead.
    pub fn start(
        dir: &std::path::Path,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> Result<ServerProcess, (i32, String)> {
        use std::io::BufRead;
        let mut child = std::process::Command::new(keyward_bin())
            .args(args)
            .current_dir(dir)
            .env("KEYWARD_BIND", "127.0.0.1:0")
            .envs(envs.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn keyward");
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let (done, drained) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        let stderr_done = done.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(rest) = line.split("listening on port ").nth(1) {
                    let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    let _ = tx.send(port.parse::<u16>().unwrap_or(0));
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
            let _ = stderr_done.send(());
        });
        let stdout = child.stdout.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
            let _ = done.send(());
        });
        match rx.recv_timeout(std::time::Duration::from_secs(60)) {
            Ok(port) => Ok(ServerProcess {
                child,
                port,
                log,
                drained,
            }),
            Err(_) => {
                let status = child.wait().ok().and_then(|s| s.code()).unwrap_or(-1);
                let process = ServerProcess {
                    child,
                    port: 0,
                    log,
                    drained,
                };
                Err((status, process.output_to_the_end()))
            }
        }
    }

    /// `keyward serve` on `database_url` with a fresh session secret, logging its port and
    /// warnings, plus `envs`; panics when it does not start.
    pub fn serve(database_url: &str, envs: &[(&str, &str)]) -> ServerProcess {
        use base64::Engine;
        let secret = base64::engine::general_purpose::STANDARD
            .encode(keyward::config::SessionSecret::generate().expose());
        let mut all = vec![
            ("KEYWARD_LOG", "warn,keyward=info,keyward_web::web=warn"),
            ("KEYWARD_SESSION_SECRET", secret.as_str()),
        ];
        all.extend_from_slice(envs);
        Self::start(
            &std::env::temp_dir(),
            &["serve", "--database-url", database_url],
            &all,
        )
        .expect("server starts")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// Everything it printed so far (stdout and stderr).
    pub fn output(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Everything it printed, once it has exited: both readers have reached the end of
    /// its output (at most 30 s, for a process that left a child holding its pipes).
    fn output_to_the_end(&self) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        for _ in 0..2 {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if self.drained.recv_timeout(left).is_err() {
                break;
            }
        }
        self.output()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (at most a minute) for it to exit by itself; its exit code (`None` when it
    /// did not exit or died of a signal) and everything it printed.
    pub fn wait_for_exit(mut self) -> (Option<i32>, String) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let code = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status.code(),
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(50))
                }
                _ => break None,
            }
        };
        (code, self.output_to_the_end())
    }

    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.output_to_the_end()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `keyward args…` to completion with `stdin`; returns (exit code, stdout, stderr).
pub fn run_keyward(args: &[&str], stdin: &str) -> (i32, String, String) {
    use std::io::Write;
    let mut child = std::process::Command::new(keyward_bin())
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn keyward");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Seeds `database_url` as an operator would, through `keyward admin`: the tenant
/// `acme`, the person `email` (password `PASSWORD`) in it as `role`, and a key of theirs
/// named "ci". Returns the key. For tests of a server run as a process.
pub async fn seed_by_admin_cli(database_url: &str, email: &str, role: Role) -> String {
    let (url, email) = (database_url.to_string(), email.to_string());
    tokio::task::spawn_blocking(move || {
        let admin = |args: &[&str], stdin: &str| {
            let mut all = vec!["admin", "--database-url", url.as_str()];
            all.extend_from_slice(args);
            let (code, out, err) = run_keyward(&all, stdin);
            assert_eq!(code, 0, "{args:?}: {out}{err}");
            out
        };
        let email = email.as_str();
        admin(&["create-tenant", "--name", "Acme", "--slug", "acme"], "");
        let create_user = [
            "create-user",
            "--email",
            email,
            "--name",
            "Owner",
            "--password-stdin",
        ];
        admin(&create_user, &format!("{PASSWORD}\n"));
        let member = [
            "add-member",
            "--email",
            email,
            "--tenant",
            "acme",
            "--role",
            role.as_str(),
        ];
        admin(&member, "");
        let key = [
            "--json",
            "create-key",
            "--account",
            email,
            "--tenant",
            "acme",
            "--name",
            "ci",
        ];
        let out = admin(&key, "");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["key"]
            .as_str()
            .unwrap()
            .to_string()
    })
    .await
    .unwrap()
}
