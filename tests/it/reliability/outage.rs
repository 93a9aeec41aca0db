//! PostgreSQL outages, simulated without touching the shared server: the test database's
//! connections are terminated with `pg_terminate_backend`, and an instance reaches its
//! database through a TCP relay the test closes and reopens (a stopped port). Every
//! request gets a success or a 503 in its surface's shape within a bounded time, and the
//! same process recovers once the database is back.

use super::{error_code, Caller, Figures};
use crate::support::browser::Browser;
use crate::support::{postgres_available, Backend, TestApp};
use keyward::domain::Role;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// No request may take longer than this, whatever the database does (the pool waits
/// 5 s for a connection).
const BOUND: Duration = Duration::from_secs(15);

/// A TCP relay to PostgreSQL on a fixed local port that can be stopped (the port closes
/// and every relayed connection is cut) and started again.
struct Relay {
    port: u16,
    upstream: SocketAddr,
    running: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn new(upstream: SocketAddr) -> Relay {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let relay = Relay {
            port,
            upstream,
            running: Arc::new(AtomicBool::new(false)),
            streams: Arc::default(),
        };
        relay.start();
        relay
    }

    fn start(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("relay port");
        self.running.store(true, Ordering::SeqCst);
        let (running, streams, upstream) =
            (self.running.clone(), self.streams.clone(), self.upstream);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if !running.load(Ordering::SeqCst) {
                    break; // the wake-up connection of `stop`; dropping the listener closes the port
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let mut all = streams.lock().unwrap();
                all.push(client.try_clone().unwrap());
                all.push(server.try_clone().unwrap());
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
    }

    /// Closes the port and cuts every connection through it.
    fn stop(&self) {
        self.running.store(false, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        for s in self.streams.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `postgres://u@host:port/db` → the same URL through `127.0.0.1:port`.
fn through(url: &str, port: u16) -> String {
    let start = url
        .find('@')
        .map_or(url.find("://").unwrap() + 3, |i| i + 1);
    let end = start + url[start..].find('/').unwrap();
    format!("{}127.0.0.1:{port}{}", &url[..start], &url[end..])
}

fn upstream_address() -> SocketAddr {
    let url = std::env::var("KEYWARD_TEST_POSTGRES_URL").unwrap();
    let start = url
        .find('@')
        .map_or(url.find("://").unwrap() + 3, |i| i + 1);
    let end = start + url[start..].find('/').unwrap_or(url.len() - start);
    let host_port = &url[start..end];
    let host_port = if host_port.contains(':') {
        host_port.to_string()
    } else {
        format!("{host_port}:5432")
    };
    use std::net::ToSocketAddrs;
    host_port.to_socket_addrs().unwrap().next().unwrap()
}

/// What one surface answered.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Served,
    Unavailable,
}

/// The actions a client takes under load, each checked for its surface's 503 shape.
struct Surfaces {
    caller: Caller,
    browser: Browser,
    key: String,
    user_id: String,
}

impl Surfaces {
    async fn act(&self, n: usize) -> Verdict {
        let started = Instant::now();
        let verdict = match n % 4 {
            0 => self.api().await,
            1 => self.graphql_create().await,
            2 => self.page().await,
            _ => self.readyz().await,
        };
        assert!(
            started.elapsed() < BOUND,
            "a request hung for {:?}",
            started.elapsed()
        );
        verdict
    }

    async fn api(&self) -> Verdict {
        let res = self
            .caller
            .http
            .get(format!("{}/api/whoami", self.caller.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .expect("an answer");
        match res.status().as_u16() {
            200 => Verdict::Served,
            503 => {
                let body: serde_json::Value = res.json().await.expect("a JSON reason");
                assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE", "{body}");
                assert!(body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("try again"));
                Verdict::Unavailable
            }
            other => panic!(
                "/api/whoami answered {other}: {}",
                res.text().await.unwrap()
            ),
        }
    }

    async fn graphql_create(&self) -> Verdict {
        let (status, answer) = self
            .caller
            .gql(
                Some(&self.key),
                super::CREATE_KEY,
                serde_json::json!({ "input": { "user_id": self.user_id, "name": format!("under load {}", uuid::Uuid::new_v4().simple()) } }),
            )
            .await
            .expect("an answer");
        if answer["data"]["create_api_key"]["key"].is_string() {
            return Verdict::Served;
        }
        assert!(
            status == 200 || status == 503,
            "GraphQL answered {status}: {answer}"
        );
        assert_eq!(error_code(&answer), Some("SERVICE_UNAVAILABLE"), "{answer}");
        let message = answer["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("try again"), "no retry hint: {answer}");
        Verdict::Unavailable
    }

    async fn page(&self) -> Verdict {
        let res = self.browser.get("/user/api-keys").await;
        match res.status().as_u16() {
            200 => Verdict::Served,
            503 => {
                let ct = crate::support::browser::header(&res, "content-type");
                assert!(ct.starts_with("text/html"), "{ct}");
                let html = res.text().await.unwrap();
                assert!(html.contains("try again"), "{html}");
                Verdict::Unavailable
            }
            other => panic!(
                "the dashboard answered {other}: {}",
                res.text().await.unwrap()
            ),
        }
    }

    async fn readyz(&self) -> Verdict {
        let res = self.browser.get("/readyz").await;
        match res.status().as_u16() {
            200 => Verdict::Served,
            503 => Verdict::Unavailable,
            other => panic!("/readyz answered {other}"),
        }
    }
}

async fn surfaces(app: &TestApp) -> Surfaces {
    let tenant = app.create_tenant("acme").await;
    let person = app
        .create_person("ada@example.com", &tenant.id, Role::Admin)
        .await;
    let (_, key) = app.create_key(&person.id, &tenant.id, None).await;
    let browser = Browser::new(app);
    browser.sign_in(&person.name).await;
    Surfaces {
        caller: Caller::new(app.address.clone()),
        browser,
        key,
        user_id: person.id,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_postgres_connections_under_load_give_503s_and_never_a_500() {
    if !postgres_available() {
        return;
    }
    const REQUESTS: usize = 1_200;
    const TERMINATE_EVERY: usize = 40;
    let app = TestApp::spawn(Backend::Postgres).await;
    let s = Arc::new(surfaces(&app).await);
    let name = app.db.pg_name().unwrap().to_string();
    let terminate = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    );
    let mut figures = Figures::new("pg_terminate_backend_under_load");
    let (mut served, mut unavailable) = (0, 0);
    let mut n = 0;
    while n < REQUESTS {
        let batch: Vec<_> = (n..n + TERMINATE_EVERY)
            .map(|i| {
                let s = s.clone();
                tokio::spawn(async move { s.act(i).await })
            })
            .collect();
        // Cut every connection of the database while the batch is in flight.
        app.db.pg_admin_execute(&terminate);
        figures.faults += 1;
        for b in batch {
            match b.await.expect("no panic") {
                Verdict::Served => served += 1,
                Verdict::Unavailable => unavailable += 1,
            }
        }
        n += TERMINATE_EVERY;
    }
    figures.requests = n;
    // Once the connections are gone the pool opens new ones: everything works again.
    for i in 0..8 {
        assert_eq!(
            s.act(i).await,
            Verdict::Served,
            "request {i} after the storm"
        );
    }
    figures.requests += 8;
    figures.print();
    println!("served {served}, answered 503 {unavailable}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_database_port_gives_503s_on_every_surface_and_the_process_recovers() {
    if !postgres_available() {
        return;
    }
    const REQUESTS_WHILE_DOWN: usize = 120;
    let relay = Relay::new(upstream_address());
    let port = relay.port;
    let app = TestApp::spawn_with(Backend::Postgres, |settings| {
        let url = through(&settings.database_url.to_string(), port);
        settings.database_url = keyward::db::DatabaseUrl::parse(&url).unwrap();
    })
    .await;
    let s = Arc::new(surfaces(&app).await);
    for i in 0..4 {
        assert_eq!(s.act(i).await, Verdict::Served);
    }
    let mut figures = Figures::new("stopped_database_port");
    relay.stop();
    figures.faults += 1;
    let down: Vec<_> = (0..REQUESTS_WHILE_DOWN)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.act(i).await })
        })
        .collect();
    for d in down {
        assert_eq!(d.await.expect("no panic"), Verdict::Unavailable);
    }
    figures.requests += REQUESTS_WHILE_DOWN;
    // What a load balancer sees (no session cookie): readiness says why.
    let res = s
        .caller
        .http
        .get(format!("{}/readyz", s.caller.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "unavailable", "{body}");
    relay.start();
    let back = Instant::now();
    // Recovery: the same process serves every surface again within 5 s.
    let mut i = 0;
    loop {
        figures.requests += 1;
        if s.act(i).await == Verdict::Served && s.act(i + 1).await == Verdict::Served {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(5),
            "not recovered 5 s after the database came back"
        );
        i += 2;
    }
    for i in 0..4 {
        assert_eq!(
            s.act(i).await,
            Verdict::Served,
            "request {i} after recovery"
        );
    }
    figures.requests += 4;
    figures.print();
}
