//! Every line a request logs carries its request id, also lines logged on the blocking
//! pool; the response repeats it as `X-Request-Id`. An incoming id is the request's own
//! only from a trusted proxy; from anyone else it is logged beside ours as
//! `client_request_id`; either way only when short and plain.

use crate::backend_tests;
use crate::reliability::{seed, Seed};
use crate::support::{client, eventually, Backend, ServerProcess, TestDb};
use diesel::connection::SimpleConnection;
use keyward::db::{Database, DatabaseUrl};

backend_tests!(every_line_a_request_logs_carries_its_request_id);

const CLIENT_ID: &str = "trace-7f3a.42";
const SIGHTING_FAILED: &str = "could not record a client of the key";

async fn every_line_a_request_logs_carries_its_request_id(backend: Backend) {
    let db = TestDb::new(backend);
    let Seed { admin_key, .. } = seed(&db.url);
    // The key's client cannot be recorded, so the request's bookkeeping (on the blocking
    // pool) logs a warning beside the access line.
    Database::connect_once(&DatabaseUrl::parse(&db.url).unwrap())
        .unwrap()
        .batch_execute("ALTER TABLE api_key_clients RENAME TO api_key_clients_out_of_reach")
        .unwrap();
    // The test connects from 127.0.0.1: a trusted proxy here.
    let server = ServerProcess::serve(
        &db.url,
        &[
            ("KEYWARD_LOG", "warn,keyward=info"),
            ("KEYWARD_TRUSTED_PROXIES", "127.0.0.1/32"),
        ],
    );
    let whoami = |id: &'static str| {
        client()
            .get(server.url("/api/whoami"))
            .bearer_auth(&admin_key)
            .header("User-Agent", "request-id-test/1.0")
            .header("X-Request-Id", id)
            .send()
    };
    let res = whoami(CLIENT_ID).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["x-request-id"],
        CLIENT_ID,
        "a trusted proxy's id"
    );

    let output = eventually("the bookkeeping's warning", || {
        let output = server.output();
        std::future::ready(output.contains(SIGHTING_FAILED).then_some(output))
    })
    .await;
    let lines: Vec<&str> = output
        .lines()
        .filter(|l| l.contains("/api/whoami") || l.contains(SIGHTING_FAILED))
        .collect();
    assert!(
        lines.len() >= 2,
        "the access line and the warning: {output}"
    );
    for line in &lines {
        assert!(line.contains(CLIENT_ID), "a line without the id: {line}");
    }

    // An id that is not short and plain is replaced by a fresh one, never echoed.
    for unsafe_id in [
        "a b",
        "x\"}",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef-",
    ] {
        let res = whoami(unsafe_id).await.unwrap();
        assert_eq!(res.status(), 200);
        let given = res.headers()["x-request-id"].to_str().unwrap().to_string();
        assert_ne!(given, unsafe_id);
        assert!(
            given.len() == 32 && given.bytes().all(|b| b.is_ascii_hexdigit()),
            "{given}"
        );
    }
    drop(server);

    // From a client that is no proxy of ours, the id is ours and the client's is logged
    // beside it, never taken for the request's.
    let server = ServerProcess::serve(&db.url, &[("KEYWARD_LOG", "warn,keyward=info")]);
    let res = client()
        .get(server.url("/api/whoami"))
        .bearer_auth(&admin_key)
        .header("X-Request-Id", CLIENT_ID)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let ours = res.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_ne!(ours, CLIENT_ID);
    let line = eventually("the access line", || {
        let output = server.output();
        std::future::ready(
            output
                .lines()
                .find(|l| l.contains("/api/whoami") && l.contains(&ours))
                .map(str::to_string),
        )
    })
    .await;
    assert!(
        line.contains(&format!("client_request_id={CLIENT_ID}")),
        "the client's id beside ours: {line}"
    );
}
