//! The load benchmark: the real server (release build) on a fresh database, driven over
//! loopback by concurrent keep-alive clients in the same process for a fixed time.
//!
//!     cargo bench --bench load                       # SQLite
//!     KEYWARD_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench load
//!
//! Options (environment): BENCH_SECONDS (default 10), BENCH_CONNECTIONS (default 32).
//! Prints requests per second and latency percentiles per route, and the process's peak
//! resident memory. Bounded in time and count; talks to 127.0.0.1 only.

use diesel::connection::SimpleConnection;
use diesel::Connection;
use keyward::config::{LogFormat, LogSettings, SessionSecret, Settings};
use keyward::db::DatabaseUrl;
use keyward::domain::{Clock, Email, KeyName, Password, PersonName, Role, TenantName, TenantSlug};
use keyward::services::{self, Actor};
use keyward::startup::Application;
use std::time::{Duration, Instant};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Target {
    label: &'static str,
    url: String,
    key: Option<String>,
}

fn main() {
    let seconds: u64 = env_or("BENCH_SECONDS", 10);
    let connections: usize = env_or("BENCH_CONNECTIONS", 32);
    let mut backends = vec![("sqlite", None)];
    if let Ok(pg) = std::env::var("KEYWARD_TEST_POSTGRES_URL") {
        backends.push(("postgres", Some(pg)));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "keyward load benchmark: {connections} connections, {seconds} s per route, {} cores",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!(
        "{:<10} {:<28} {:>10} {:>9} {:>9} {:>9} {:>8}",
        "backend", "route", "req/s", "p50 ms", "p99 ms", "max ms", "errors"
    );
    for (name, pg) in backends {
        let (url, _guard) = database(pg.as_deref());
        runtime.block_on(async {
            let settings = Settings {
                bind: "127.0.0.1:0".into(),
                database_url: DatabaseUrl::parse(&url).unwrap(),
                public_url: None,
                log: LogSettings {
                    filter: "warn".into(),
                    format: LogFormat::Pretty,
                },
                trusted_proxies: Vec::new(),
                session_secret: Some(SessionSecret::generate()),
                workers: None,
                quotas: Default::default(),
                audit_retention_days: None,
            };
            let app = Application::build(settings, Clock::system()).expect("server builds");
            let base = format!("http://127.0.0.1:{}", app.port());
            let pool = app.state().db.pool.clone();
            tokio::spawn(app.run_until_stopped());
            let key = tokio::task::spawn_blocking(move || seed(&mut pool.get().unwrap()))
                .await
                .unwrap();
            let targets = [
                Target {
                    label: "GET /healthz",
                    url: format!("{base}/healthz"),
                    key: None,
                },
                Target {
                    label: "GET /api/whoami (valid key)",
                    url: format!("{base}/api/whoami"),
                    key: Some(key.clone()),
                },
                Target {
                    label: "GET /api/whoami (bad checksum)",
                    url: format!("{base}/api/whoami"),
                    key: Some(format!("{}0", &key[..key.len() - 1])),
                },
            ];
            for t in &targets {
                let r = drive(t, connections, Duration::from_secs(seconds)).await;
                println!(
                    "{:<10} {:<28} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>8}",
                    name, t.label, r.0, r.1, r.2, r.3, r.4
                );
            }
        });
    }
    println!(
        "peak resident memory of the process: {} MiB",
        peak_rss_kib() / 1024
    );
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

fn seed(conn: &mut keyward::db::DbConnection) -> String {
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
        Email::parse("bench@example.com").unwrap(),
        PersonName::parse("Bench").unwrap(),
        &Password::parse_new("bench password").unwrap(),
    )
    .unwrap();
    services::members::add_member(conn, &op, now, &t.id, &a.id, Role::Admin).unwrap();
    let created = services::api_keys::create_api_key(
        conn,
        &op,
        now,
        services::api_keys::NewApiKey {
            account_id: a.id,
            tenant_id: Some(t.id),
            name: KeyName::parse("bench").unwrap(),
            expires_at: None,
        },
    )
    .unwrap();
    created.token.expose_secret().to_string()
}

/// (req/s, p50 ms, p99 ms, max ms, errors) for one route.
async fn drive(t: &Target, connections: usize, duration: Duration) -> (f64, f64, f64, f64, usize) {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .unwrap();
        let (url, key) = (t.url.clone(), t.key.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(50_000);
            let mut errors = 0usize;
            while Instant::now() < deadline {
                let mut req = client.get(&url);
                if let Some(k) = &key {
                    req = req.bearer_auth(k);
                }
                let t0 = Instant::now();
                match req.send().await {
                    Ok(res) if res.status().as_u16() < 500 => {
                        let _ = res.bytes().await;
                    }
                    _ => errors += 1,
                }
                latencies.push(t0.elapsed());
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
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    (
        all.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        all.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        errors,
    )
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
