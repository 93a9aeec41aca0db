//! The load benchmark: the release `keyward serve` as a child process (request logging at
//! `info` as by default, written to /dev/null) on a fresh database, driven over loopback
//! by keep-alive clients in this process for a fixed time. The server being a process of
//! its own, its peak resident memory and CPU time are its own, not the clients'.
//!
//!     cargo bench --bench load                       # SQLite
//!     KEYWARD_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench load
//!
//! Options (environment): BENCH_SECONDS per route (default 5), BENCH_CONNECTIONS
//! (default 32), BENCH_KEYS (default "1000,100000,1000000": the key counts to measure
//! with, all held by one person), BENCH_SERVER_BIN (another `keyward` binary to serve, to
//! compare builds in one run),
//! BENCH_BACKENDS (default "sqlite,postgres"; postgres only when KEYWARD_TEST_POSTGRES_URL
//! is set), BENCH_METRICS=1 (serve with Prometheus metrics on, so every request is counted). For each backend and key count it prints req/s, p50/p99/max latency, the
//! ratio of req/s to `/healthz` and the server's CPU time per request for: `/healthz`,
//! `/api/whoami`, GraphQL `auth_info`, an unknown (well-formed) key, and `/api/whoami`
//! while 20 clients sign in with a password in a loop; then the server's peak resident
//! memory (VmHWM). Every timed response is checked (status and body); a response that is
//! not the expected one counts as an error. Keys beyond the first are inserted in bulk by
//! SQL, not through the services. The server's pid is printed, for `perf record -p`.

use diesel::connection::SimpleConnection;
use diesel::Connection;
use keyward::db::{Database, DatabaseUrl, DbConnection};
use keyward::domain::{AccountId, ApiKeyId, TenantId};
use keyward::domain::{Clock, Email, KeyName, Password, PersonName, PlainToken, Role};
use keyward::domain::{TenantName, TenantSlug, TokenKind};
use keyward::services::{self, Actor};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const EMAIL: &str = "bench@example.com";
/// Each signing-in client has an account of its own, so no email reaches the throttle.
fn signer_email(i: usize) -> String {
    format!("signer{i}@example.com")
}
const PASSWORD: &str = "bench password";
const SIGN_INS: usize = 20;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Clone)]
enum Method {
    Get,
    /// POST of this GraphQL query.
    Graphql(&'static str),
}

const AUTH_INFO: &str = "{ auth_info { user_id tenant_id api_key_id role account_type } }";

struct Target {
    label: &'static str,
    url: String,
    method: Method,
    key: Option<String>,
    /// Keys for GraphQL, connection i using the i-th (a key may run two GraphQL requests
    /// at once); overrides `key`.
    keys: Vec<String>,
    /// The signed-in person's session cookie, for dashboard pages.
    cookie: Option<String>,
    status: u16,
    /// Text the body must contain.
    body_has: String,
    /// Text the body must contain exactly this many times (rows of a list).
    body_count: Option<(&'static str, usize)>,
    /// Clients signing in meanwhile.
    sign_ins: bool,
}

impl Target {
    fn new(label: &'static str, url: String, method: Method) -> Target {
        Target {
            label,
            url,
            method,
            key: None,
            keys: Vec::new(),
            cookie: None,
            status: 200,
            body_has: String::new(),
            body_count: None,
            sign_ins: false,
        }
    }
}

struct Seeded {
    key: String,
    key_id: String,
    account_id: String,
    /// One more key of the same person per connection, for GraphQL.
    graphql_keys: Vec<String>,
    key_count: usize,
    /// The benchmark person's session cookie (signed in through `/login`).
    cookie: String,
}

fn main() {
    let seconds: u64 = env_or("BENCH_SECONDS", 5);
    let connections: usize = env_or("BENCH_CONNECTIONS", 32);
    let counts: Vec<usize> = std::env::var("BENCH_KEYS")
        .unwrap_or_else(|_| "1000,100000,1000000".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let wanted = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let mut backends = Vec::new();
    if wanted.contains("sqlite") {
        backends.push(("sqlite", None));
    }
    if let (true, Ok(pg)) = (
        wanted.contains("postgres"),
        std::env::var("KEYWARD_TEST_POSTGRES_URL"),
    ) {
        backends.push(("postgres", Some(pg)));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "keyward load benchmark: {connections} connections, {seconds} s per route, {} cores, server workers: default; load average before: {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        load_average()
    );
    println!(
        "{:<9} {:>9} {:<36} {:>8} {:>7} {:>7} {:>7} {:>8} {:>7} {:>8} {:>6} {:>6}",
        "backend",
        "keys",
        "route",
        "req/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "×healthz",
        "µs cpu",
        "kB/resp",
        "MiB pk",
        "errors"
    );
    let mut failures = 0;
    for (name, pg) in backends {
        let (url, _guard) = database(pg.as_deref());
        let mut server = Server::start(&url);
        println!("{name}: server pid {}", server.pid());
        let db_url = DatabaseUrl::parse(&url).unwrap();
        let mut conn = Database::connect_once(&db_url).expect("the benchmark's own connection");
        let mut seeded = seed(&mut conn, connections);
        seeded.cookie = runtime.block_on(sign_in(&server.base));
        for &count in &counts {
            seeded = bulk_keys(&mut conn, seeded, count);
            let mut healthz = 0.0;
            for t in targets(&server.base, &seeded) {
                server.reset_peak_rss();
                let cpu_before = server.cpu_seconds();
                let r = runtime.block_on(drive(
                    &t,
                    &server.base,
                    connections,
                    Duration::from_secs(seconds),
                ));
                let cpu_us = (server.cpu_seconds() - cpu_before) * 1e6 / r.count.max(1) as f64;
                if t.label == "GET /healthz" {
                    healthz = r.rps;
                }
                failures += r.errors;
                println!(
                    "{:<9} {:>9} {:<36} {:>8.0} {:>7.2} {:>7.2} {:>7.1} {:>7.2}× {:>7.0} {:>8.1} {:>6} {:>6}",
                    name,
                    seeded.key_count,
                    t.label,
                    r.rps,
                    r.p50,
                    r.p99,
                    r.max,
                    r.rps / healthz,
                    cpu_us,
                    r.bytes as f64 / 1024.0,
                    server.peak_rss_kib() / 1024,
                    r.errors
                );
                if let Some(s) = r.sign_ins {
                    println!(
                        "{:<9} {:>9} {:<34} {:>9.1}",
                        name, seeded.key_count, "  meanwhile POST /login", s
                    );
                }
            }
            println!(
                "{name}: peak resident memory of the server over the run so far: {} MiB, now {} MiB; load average: {}",
                server.max_rss_kib.max(server.peak_rss_kib()) / 1024,
                server.rss_kib() / 1024,
                load_average()
            );
        }
    }
    if failures > 0 {
        eprintln!("{failures} responses were not the expected ones");
        std::process::exit(1);
    }
}

fn targets(base: &str, s: &Seeded) -> Vec<Target> {
    let with_key = |mut t: Target| {
        t.key = Some(s.key.clone());
        t
    };
    let whoami = |label, sign_ins| Target {
        body_has: format!("\"api_key_id\":\"{}\"", s.key_id),
        sign_ins,
        ..with_key(Target::new(
            label,
            format!("{base}/api/whoami"),
            Method::Get,
        ))
    };
    let graphql = |label, query| Target {
        keys: s.graphql_keys.clone(),
        ..with_key(Target::new(
            label,
            format!("{base}/graphql"),
            Method::Graphql(query),
        ))
    };
    // Issue 9: one person holding all the keys. A page of the dashboard list, a GraphQL
    // page, the count, and the Prefect client's query without arguments (at most 1,000).
    let key_rows = |label, query, rows| Target {
        body_count: Some(("\"id\":", rows)),
        ..graphql(label, query)
    };
    vec![
        Target::new("GET /healthz", format!("{base}/healthz"), Method::Get),
        whoami("GET /api/whoami", false),
        Target {
            body_has: format!("\"user_id\":\"{}\"", s.account_id),
            ..graphql("POST /graphql { auth_info }", AUTH_INFO)
        },
        Target {
            key: Some(
                PlainToken::generate(TokenKind::User)
                    .expose_secret()
                    .to_string(),
            ),
            status: 401,
            body_has: "unknown or has been revoked".into(),
            ..Target::new(
                "GET /api/whoami (unknown key)",
                format!("{base}/api/whoami"),
                Method::Get,
            )
        },
        whoami("GET /api/whoami (20 signing in)", true),
        Target {
            cookie: Some(s.cookie.clone()),
            body_has: format!(">{} keys<", thousands(s.key_count)),
            body_count: Some(("data-key-name=", 50)),
            ..Target::new(
                "GET /user/api-keys (page 1 of 50)",
                format!("{base}/user/api-keys"),
                Method::Get,
            )
        },
        key_rows(
            "auth_api_key(limit: 10, offset: 20)",
            "{ auth_api_key(limit: 10, offset: 20) { id name } }",
            10,
        ),
        // Issue 23: the deepest offset allowed, the refusal past it, an exact name and
        // each other order, all from an index.
        key_rows(
            "auth_api_key(limit: 10, offset: 9990)",
            "{ auth_api_key(limit: 10, offset: 9990) { id name } }",
            if s.key_count > 9_990 { 10 } else { 0 },
        ),
        Target {
            body_has: "must be at most 10000".into(),
            ..graphql(
                "auth_api_key(offset: 10001): refused",
                "{ auth_api_key(limit: 10, offset: 10001) { id name } }",
            )
        },
        key_rows(
            "where: {name: {_eq: \"bulk-500\"}}",
            "{ auth_api_key(where: {name: {_eq: \"bulk-500\"}}) { id name } }",
            1,
        ),
        key_rows(
            "order_by name asc, limit 10",
            "{ auth_api_key(limit: 10, order_by: {name: asc}) { id name } }",
            10,
        ),
        key_rows(
            "order_by expires_at desc, limit 10",
            "{ auth_api_key(limit: 10, order_by: {expires_at: desc}) { id name } }",
            10,
        ),
        key_rows(
            "order_by last_used_at asc, limit 10",
            "{ auth_api_key(limit: 10, order_by: {last_used_at: asc}) { id name } }",
            10,
        ),
        Target {
            body_has: format!("{{\"count\":{}}}", s.key_count),
            ..graphql(
                "auth_api_key_aggregate",
                "{ auth_api_key_aggregate { aggregate { count } } }",
            )
        },
        key_rows(
            "auth_api_key (no arguments)",
            "{ auth_api_key { id name } }",
            s.key_count.min(1000),
        ),
    ]
}

/// 100000 → "100,000", as the dashboard writes a total.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A database for the run; the guard removes it afterwards.
fn database(pg: Option<&str>) -> (String, Box<dyn std::any::Any>) {
    match pg {
        None => {
            let dir = std::env::temp_dir()
                .join(format!("keyward-bench-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir).unwrap();
            struct Dir(std::path::PathBuf);
            impl Drop for Dir {
                fn drop(&mut self) {
                    let _ = std::fs::remove_dir_all(&self.0);
                }
            }
            (
                format!("sqlite://{}", dir.join("bench.db").display()),
                Box::new(Dir(dir)),
            )
        }
        Some(admin) => {
            let name = format!("keyward_bench_{}", uuid::Uuid::new_v4().simple());
            // As the server does, before this process's first PostgreSQL connection.
            keyward::db::keep_openssl_through_exit();
            diesel::PgConnection::establish(admin)
                .unwrap()
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .unwrap();
            struct Db(String, String);
            impl Drop for Db {
                fn drop(&mut self) {
                    if let Ok(mut c) = diesel::PgConnection::establish(&self.0) {
                        let _ = c.batch_execute(&format!(
                            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                            self.1
                        ));
                    }
                }
            }
            let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
            (
                format!("{base}/{name}"),
                Box::new(Db(admin.to_string(), name)),
            )
        }
    }
}

/// A tenant, a person (who signs in during the mix) and the key the benchmark uses.
fn seed(conn: &mut DbConnection, connections: usize) -> Seeded {
    let op = Actor::operator();
    let now = Clock::system().now();
    let t = services::tenants::create_tenant(
        conn,
        &op,
        now,
        TenantName::parse("Bench").unwrap(),
        TenantSlug::parse("bench").unwrap(),
    )
    .unwrap();
    let a = services::accounts::create_user(
        conn,
        &op,
        now,
        Email::parse(EMAIL).unwrap(),
        PersonName::parse("Bench").unwrap(),
        keyward::services::passwords::HashedPassword::of(&Password::parse_new(PASSWORD).unwrap())
            .unwrap(),
    )
    .unwrap();
    services::members::add_member(
        conn,
        &op,
        now,
        &TenantId::from_stored(&t.id),
        &AccountId::from_stored(&a.id),
        Role::Admin,
    )
    .unwrap();
    for i in 0..SIGN_INS {
        services::accounts::create_user(
            conn,
            &op,
            now,
            Email::parse(&signer_email(i)).unwrap(),
            PersonName::parse("Signer").unwrap(),
            keyward::services::passwords::HashedPassword::of(
                &Password::parse_new(PASSWORD).unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
    }
    let mut key = |name: &str| {
        services::api_keys::create_api_key(
            conn,
            &op,
            now,
            services::api_keys::NewApiKey {
                account_id: AccountId::from_stored(a.id.clone()),
                tenant_id: Some(TenantId::from_stored(t.id.clone())),
                name: KeyName::parse(name).unwrap(),
                expires_at: None,
                read_only: false,
                allowed_ips: Default::default(),
                description: Default::default(),
            },
            ApiKeyId::generate(),
            &keyward::domain::Quotas::default(),
        )
        .unwrap()
    };
    let created = key("bench");
    let graphql_keys: Vec<String> = (0..connections)
        .map(|i| {
            key(&format!("bench connection {i}"))
                .token
                .expose_secret()
                .to_string()
        })
        .collect();
    Seeded {
        key: created.token.expose_secret().to_string(),
        key_id: created.key.id,
        account_id: a.id.clone(),
        key_count: 1 + graphql_keys.len(),
        graphql_keys,
        cookie: String::new(),
    }
}

/// Adds keys (copies of the benchmark's key under random digests, each a second older than
/// the one before, as keys made over time are) up to `count`, in one SQL statement.
fn bulk_keys(conn: &mut DbConnection, seeded: Seeded, count: usize) -> Seeded {
    let (from, to) = (seeded.key_count + 1, count);
    if to < from {
        return seeded;
    }
    let started = Instant::now();
    let columns = "id, account_id, tenant_id, name, token_digest, display_hint, created_at, \
                   created_by, created_by_key_id, expires_at, last_used_at, last_used_ip";
    let sql = match conn {
        DbConnection::Sqlite(_) => format!(
            "WITH RECURSIVE n(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM n WHERE i < {to}) \
             INSERT INTO api_keys ({columns}) \
             SELECT printf('00000000-0000-4000-8000-%012d', n.i), account_id, tenant_id, \
                    'bulk-' || n.i, lower(hex(randomblob(32))), display_hint, \
                    datetime(created_at, '-' || n.i || ' seconds'), \
                    NULL, NULL, NULL, NULL, NULL \
             FROM api_keys, n WHERE api_keys.id = '{id}'",
            id = seeded.key_id
        ),
        DbConnection::Postgres(_) => format!(
            "INSERT INTO api_keys ({columns}) \
             SELECT '00000000-0000-4000-8000-' || lpad(n::text, 12, '0'), account_id, tenant_id, \
                    'bulk-' || n, encode(sha256(('bulk' || n)::bytea), 'hex'), display_hint, \
                    created_at - n * interval '1 second', \
                    NULL, NULL, NULL, NULL, NULL \
             FROM api_keys, generate_series({from}, {to}) AS n WHERE api_keys.id = '{id}'; \
             ANALYZE api_keys",
            id = seeded.key_id
        ),
    };
    conn.batch_execute(&sql).expect("bulk insert of keys");
    eprintln!(
        "(inserted {} keys in {:.1} s)",
        to - from + 1,
        started.elapsed().as_secs_f64()
    );
    Seeded {
        key_count: count,
        ..seeded
    }
}

struct Run {
    /// Responses timed.
    count: usize,
    /// Mean size of a response body.
    bytes: usize,
    rps: f64,
    p50: f64,
    p99: f64,
    max: f64,
    errors: usize,
    /// Sign-ins per second during the run, when clients signed in meanwhile.
    sign_ins: Option<f64>,
}

/// How often `needle` occurs in `body` (1 for an empty needle).
fn occurrences(body: &[u8], needle: &str) -> usize {
    if needle.is_empty() {
        return 1;
    }
    body.windows(needle.len())
        .filter(|w| *w == needle.as_bytes())
        .count()
}

/// Signs the benchmark's person in through `/login`; their session cookie.
async fn sign_in(base: &str) -> String {
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{base}/login"))
        .form(&[("email", EMAIL), ("password", PASSWORD), ("next", "/")])
        .send()
        .await
        .expect("POST /login");
    assert_eq!(
        res.status().as_u16(),
        303,
        "the benchmark's person signs in"
    );
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_string))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Drives one target with `connections` clients for `duration`.
async fn drive(t: &Target, base: &str, connections: usize, duration: Duration) -> Run {
    let stop = Arc::new(AtomicBool::new(false));
    let signed_in = Arc::new(AtomicUsize::new(0));
    let mut signers = Vec::new();
    if t.sign_ins {
        for i in 0..SIGN_INS {
            let (stop, signed_in, url) = (stop.clone(), signed_in.clone(), format!("{base}/login"));
            let email = signer_email(i);
            signers.push(tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .unwrap();
                let mut wrong = 0;
                while !stop.load(Ordering::Relaxed) {
                    let res = client
                        .post(&url)
                        .form(&[
                            ("email", email.as_str()),
                            ("password", PASSWORD),
                            ("next", "/"),
                        ])
                        .send()
                        .await;
                    match res {
                        Ok(r) if r.status().as_u16() == 303 => {
                            signed_in.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => wrong += 1,
                    }
                }
                wrong
            }));
        }
    }
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for i in 0..connections {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .unwrap();
        let key = match t.keys.is_empty() {
            true => t.key.clone(),
            false => Some(t.keys[i % t.keys.len()].clone()),
        };
        let (url, cookie) = (t.url.clone(), t.cookie.clone());
        let method = t.method.clone();
        let (status, body_has, body_count) = (t.status, t.body_has.clone(), t.body_count);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(50_000);
            let (mut errors, mut bytes) = (0usize, 0usize);
            while Instant::now() < deadline {
                let mut req = match method {
                    Method::Get => client.get(&url),
                    Method::Graphql(query) => client
                        .post(&url)
                        .json(&serde_json::json!({ "query": query })),
                };
                if let Some(k) = &key {
                    req = req.bearer_auth(k);
                }
                if let Some(c) = &cookie {
                    req = req.header("cookie", c);
                }
                let t0 = Instant::now();
                let body = match req.send().await {
                    Ok(res) if res.status().as_u16() == status => res.bytes().await.ok(),
                    _ => None,
                };
                latencies.push(t0.elapsed());
                let ok = body.is_some_and(|b| {
                    bytes += b.len();
                    occurrences(&b, &body_has) > 0
                        && body_count.is_none_or(|(needle, n)| occurrences(&b, needle) == n)
                });
                if !ok {
                    errors += 1;
                }
            }
            (latencies, errors, bytes)
        }));
    }
    let mut all = Vec::new();
    let (mut errors, mut bytes) = (0, 0);
    for task in tasks {
        let (l, e, b) = task.await.unwrap();
        all.extend(l);
        errors += e;
        bytes += b;
    }
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for s in signers {
        errors += s.await.unwrap();
    }
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    Run {
        count: all.len(),
        bytes: bytes / all.len().max(1),
        rps: all.len() as f64 / elapsed,
        p50: pct(0.50),
        p99: pct(0.99),
        max: all.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        errors,
        sign_ins: t
            .sign_ins
            .then(|| signed_in.load(Ordering::Relaxed) as f64 / elapsed),
    }
}

/// The release `keyward serve`, a child process on a port of its own, stopped on drop.
struct Server {
    child: Child,
    base: String,
    /// The highest VmHWM seen before a reset: the peak of the whole run.
    max_rss_kib: u64,
}

impl Server {
    fn start(database_url: &str) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let secret = keyward::config::SessionSecret::generate();
        let secret =
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, secret.expose());
        // BENCH_SERVER_BIN measures another build (say, the commit before a change)
        // against the same clients in the same run.
        let bin = std::env::var("BENCH_SERVER_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_keyward").to_string());
        let mut command = Command::new(bin);
        if env_or("BENCH_METRICS", 0) == 1 {
            // Prometheus metrics on, so every request is counted (issue 16).
            command.env("KEYWARD_METRICS_TOKEN", "bench-metrics-token-0123456789");
        }
        let child = command
            .arg("serve")
            .env("KEYWARD_DATABASE_URL", database_url)
            .env("KEYWARD_BIND", format!("127.0.0.1:{port}"))
            .env("KEYWARD_LOG", "info")
            .env("KEYWARD_SESSION_SECRET", secret)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("keyward serve starts");
        let mut server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            max_rss_kib: 0,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let up = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
            if up {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("keyward serve exited at start-up: {status}");
            }
            assert!(Instant::now() < deadline, "keyward serve did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn proc_file(&self, name: &str) -> String {
        std::fs::read_to_string(format!("/proc/{}/{name}", self.pid())).unwrap_or_default()
    }

    /// Starts the server's VmHWM again from its current resident set (Linux: writing 5 to
    /// clear_refs), so the next route's peak is that route's own; the run's peak is kept.
    fn reset_peak_rss(&mut self) {
        self.max_rss_kib = self.max_rss_kib.max(self.peak_rss_kib());
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5");
    }

    /// VmHWM: the server's peak resident set since the last reset.
    fn peak_rss_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    /// VmRSS: the server's resident set now.
    fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    fn status_kib(&self, field: &str) -> u64 {
        self.proc_file("status")
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    }

    /// User plus system CPU time of the server so far.
    fn cpu_seconds(&self) -> f64 {
        let stat = self.proc_file("stat");
        // Fields after the command name (which ends with ')'): utime and stime are the
        // 12th and 13th, in clock ticks (100 a second on Linux).
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        (ticks(11) + ticks(12)) / 100.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
