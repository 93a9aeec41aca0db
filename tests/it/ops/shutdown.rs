//! SIGTERM: the real `keyward` process stops accepting, finishes the requests it is in
//! the middle of, and exits 0. Requests are held half-sent across the signal, after the
//! server answered their head with "100 Continue", so they are in flight by construction,
//! not by timing.

use crate::backend_tests;
use crate::reliability::{seed, Seed, CREATE_KEY};
use crate::support::{Backend, ServerProcess, TestDb};
use diesel::prelude::*;
use keyward::db::schema::api_keys;
use keyward::db::{Database, DatabaseUrl};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const IN_FLIGHT: usize = 6;

/// Reads one HTTP/1.1 response with a Content-Length body: (status, body).
async fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let status = head[9..12].parse().expect("a status code");
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + length {
                let n = stream.read(&mut chunk).await.expect("read body");
                assert!(n > 0, "the connection closed in the middle of a response");
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).to_string();
            return (status, body);
        }
        let n = stream.read(&mut chunk).await.expect("read head");
        assert!(n > 0, "the connection closed before a response: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn sigterm_finishes_in_flight_requests_and_exits_zero(backend: Backend) {
    let db = TestDb::new(backend);
    let Seed {
        admin_id,
        admin_key,
        ..
    } = seed(&db.url);
    let server = ServerProcess::serve(&db.url, &[("KEYWARD_SHUTDOWN_TIMEOUT", "30")]);
    let port = server.port;

    // Each connection is served once (so a worker owns it), then left half-way through
    // a key creation.
    let mut held = Vec::new();
    for i in 0..IN_FLIGHT {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: keyward\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(read_response(&mut stream).await.0, 200);
        let body = json!({
            "query": CREATE_KEY,
            "variables": { "input": { "user_id": admin_id, "name": format!("in flight {i}") } }
        })
        .to_string();
        // `Expect: 100-continue`: the server's "100 Continue" says it has read the head
        // and begun the request. Without waiting for it, a loaded machine could deliver
        // SIGTERM before the server read the head, and an idle connection is closed.
        let head = format!(
            "POST /graphql HTTP/1.1\r\nHost: keyward\r\nAuthorization: Bearer {admin_key}\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let (first, rest) = body.split_at(body.len() / 2);
        stream.write_all(head.as_bytes()).await.unwrap();
        assert_eq!(read_response(&mut stream).await.0, 100, "100 Continue");
        stream.write_all(first.as_bytes()).await.unwrap();
        held.push((stream, rest.to_string()));
    }

    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());

    // It stops accepting: a new connection is refused once the listener is closed.
    let mut refused = false;
    for _ in 0..600 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        refused,
        "the server still accepts connections after SIGTERM"
    );

    // Every request it was in the middle of still gets its whole answer.
    let mut acknowledged = Vec::new();
    for (mut stream, rest) in held {
        stream.write_all(rest.as_bytes()).await.unwrap();
        let (status, body) = read_response(&mut stream).await;
        assert_eq!(status, 200, "{body}");
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        let id = answer["data"]["create_api_key"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no key in {answer}"))
            .to_string();
        acknowledged.push(id);
    }

    let (code, output) = tokio::task::spawn_blocking(move || server.wait_for_exit())
        .await
        .unwrap();
    assert_eq!(
        code,
        Some(0),
        "exit status after SIGTERM; output:\n{output}"
    );

    let mut conn = Database::connect_once(&DatabaseUrl::parse(&db.url).unwrap()).unwrap();
    let stored: Vec<String> = api_keys::table
        .select(api_keys::id)
        .load(&mut conn)
        .unwrap();
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|id| !stored.contains(id))
        .collect();
    assert_eq!(acknowledged.len(), IN_FLIGHT);
    assert!(lost.is_empty(), "acknowledged keys lost: {lost:?}");
}

backend_tests!(sigterm_finishes_in_flight_requests_and_exits_zero);
