//! The load benchmark: the release `keyward serve` as a child process (request logging at
//! `info` as by default, written to /dev/null) on a fresh database, driven over loopback
//! by keep-alive clients in this process for a fixed time. The server being a process of
//! its own, its peak resident memory and CPU time are its own, not the clients'.
//!
//!     cargo bench --bench load                       # SQLite
//!     KEYWARD_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench load
//!
//! Options (environment): BENCH_SECONDS per route (default 5), BENCH_CONNECTIONS
//! (default 32), BENCH_KEYS (default "1000,1000000": the key counts to measure with),
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

#[derive(Clone, Copy)]
enum Method {
    Get,
    /// POST of GraphQL `{ auth_info { … } }`.
    AuthInfo,
}

struct Target {
    label: &'static str,
    url: String,
    method: Method,
    key: Option<String>,
    status: u16,
    /// Text the body must contain.
    body_has: String,
    /// Clients signing in meanwhile.
    sign_ins: bool,
}

struct Seeded {
    key: String,
    key_id: String,
    key_count: usize,
}

fn main() {
    let seconds: u64 = env_or("BENCH_SECONDS", 5);
    let connections: usize = env_or("BENCH_CONNECTIONS", 32);
    let counts: Vec<usize> = std::env::var("BENCH_KEYS")
        .unwrap_or_else(|_| "1000,1000000".into())
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
        "{:<9} {:>9} {:<34} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>6}",
        "backend",
        "keys",
        "route",
        "req/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "×healthz",
        "µs cpu",
        "errors"
    );
    let mut failures = 0;
    for (name, pg) in backends {
        let (url, _guard) = database(pg.as_deref());
        let server = Server::start(&url);
        println!("{name}: server pid {}", server.pid());
        let db_url = DatabaseUrl::parse(&url).unwrap();
        let mut conn = Database::connect_once(&db_url).expect("the benchmark's own connection");
        let mut seeded = seed(&mut conn);
        for &count in &counts {
            seeded = bulk_keys(&mut conn, seeded, count);
            let mut healthz = 0.0;
            for t in targets(&server.base, &seeded) {
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
                    "{:<9} {:>9} {:<34} {:>9.0} {:>8.2} {:>8.2} {:>8.1} {:>7.2}× {:>8.0} {:>6}",
                    name,
                    seeded.key_count,
                    t.label,
                    r.rps,
                    r.p50,
                    r.p99,
                    r.max,
                    r.rps / healthz,
                    cpu_us,
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
                "{name}: peak resident memory of the server so far: {} MiB; load average: {}",
                server.peak_rss_kib() / 1024,
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
    let whoami = |label, sign_ins| Target {
        label,
        url: format!("{base}/api/whoami"),
        method: Method::Get,
        key: Some(s.key.clone()),
        status: 200,
        body_has: format!("\"api_key_id\":\"{}\"", s.key_id),
        sign_ins,
    };
    vec![
        Target {
            label: "GET /healthz",
            url: format!("{base}/healthz"),
            method: Method::Get,
            key: None,
            status: 200,
            body_has: String::new(),
            sign_ins: false,
        },
        whoami("GET /api/whoami", false),
        Target {
            label: "POST /graphql { auth_info }",
            url: format!("{base}/graphql"),
            method: Method::AuthInfo,
            key: Some(s.key.clone()),
            status: 200,
            body_has: format!("\"api_key_id\":\"{}\"", s.key_id),
            sign_ins: false,
        },
        Target {
            label: "GET /api/whoami (unknown key)",
            url: format!("{base}/api/whoami"),
            method: Method::Get,
            key: Some(
                PlainToken::generate(TokenKind::User)
                    .expose_secret()
                    .to_string(),
            ),
            status: 401,
            body_has: "unknown or has been revoked".into(),
            sign_ins: false,
        },
        whoami("GET /api/whoami (20 signing in)", true),
    ]
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
fn seed(conn: &mut DbConnection) -> Seeded {
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
    services::members::add_member(conn, &op, now, &t.id, &a.id, Role::Admin).unwrap();
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
    let created = services::api_keys::create_api_key(
        conn,
        &op,
        now,
        services::api_keys::NewApiKey {
            account_id: a.id,
            tenant_id: Some(t.id),
            name: KeyName::parse("bench").unwrap(),
            expires_at: None,
            read_only: false,
        },
    )
    .unwrap();
    Seeded {
        key: created.token.expose_secret().to_string(),
        key_id: created.key.id,
        key_count: 1,
    }
}

/// Adds keys (copies of the benchmark's key under random digests) up to `count`, in one
/// SQL statement.
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
                    'bulk', lower(hex(randomblob(32))), display_hint, created_at, \
                    NULL, NULL, NULL, NULL, NULL \
             FROM api_keys, n WHERE api_keys.id = '{id}'",
            id = seeded.key_id
        ),
        DbConnection::Postgres(_) => format!(
            "INSERT INTO api_keys ({columns}) \
             SELECT '00000000-0000-4000-8000-' || lpad(n::text, 12, '0'), account_id, tenant_id, \
                    'bulk', encode(sha256(('bulk' || n)::bytea), 'hex'), display_hint, created_at, \
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
    rps: f64,
    p50: f64,
    p99: f64,
    max: f64,
    errors: usize,
    /// Sign-ins per second during the run, when clients signed in meanwhile.
    sign_ins: Option<f64>,
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
    for _ in 0..connections {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .unwrap();
        let (url, key, method) = (t.url.clone(), t.key.clone(), t.method);
        let (status, body_has) = (t.status, t.body_has.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(50_000);
            let mut errors = 0usize;
            while Instant::now() < deadline {
                let mut req = match method {
                    Method::Get => client.get(&url),
                    Method::AuthInfo => client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(r#"{"query":"{ auth_info { user_id tenant_id api_key_id role account_type } }"}"#),
                };
                if let Some(k) = &key {
                    req = req.bearer_auth(k);
                }
                let t0 = Instant::now();
                let ok = match req.send().await {
                    Ok(res) if res.status().as_u16() == status => res
                        .bytes()
                        .await
                        .is_ok_and(|b| {
                            body_has.is_empty()
                                || b.windows(body_has.len()).any(|w| w == body_has.as_bytes())
                        }),
                    _ => false,
                };
                latencies.push(t0.elapsed());
                if !ok {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await.unwrap();
        all.extend(l);
        errors += e;
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
        let mut command = Command::new(env!("CARGO_BIN_EXE_keyward"));
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

    /// VmHWM: the server's peak resident set.
    fn peak_rss_kib(&self) -> u64 {
        self.proc_file("status")
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
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
