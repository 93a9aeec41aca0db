//! Every request bounded in cost (issue 23): the cost check on documents before
//! async-graphql sees them, key or no key; the offset cap; at most two GraphQL requests
//! per key at once; statements stopped at the request budget; and SIGTERM ending the
//! process within the shutdown timeout although a request is stuck.

use crate::backend_tests;
use crate::reliability::{seed, Seed, CREATE_KEY};
use crate::support::{tenant_with_admin, Backend, ServerProcess, TestApp, TestDb};
use diesel::connection::SimpleConnection;
use keyward::db::{DatabaseUrl, DbConnection};
use keyward::domain::Role;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `levels` fragments, each spreading the next four times, the last selecting `leaf`:
/// under 800 bytes, and 4^(levels-1) leaves once expanded.
fn fragment_tower(operation: &str, levels: usize, leaf: &str) -> String {
    let root = match operation {
        "mutation" => "mutation_root",
        _ => "query_root",
    };
    let mut doc = format!("{operation} {{ ...F1 }}\n");
    for level in 1..levels {
        let next = format!("...F{} ", level + 1).repeat(4);
        doc.push_str(&format!("fragment F{level} on {root} {{ {next}}}\n"));
    }
    doc.push_str(&format!("fragment F{levels} on {root} {{ {leaf} }}\n"));
    doc
}

fn code(answer: &Value) -> &str {
    answer["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
}

fn message(answer: &Value) -> &str {
    answer["errors"][0]["message"].as_str().unwrap_or_default()
}

async fn fragment_towers_without_a_key_are_refused_at_once_while_healthz_answers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let deletion =
        "delete_api_key(input: {key_id: \"00000000-0000-4000-8000-000000000000\"}) { success }";
    for (operation, leaf) in [("query", "hello"), ("mutation", deletion)] {
        for levels in [13, 24] {
            let doc = fragment_tower(operation, levels, leaf);
            assert!(doc.len() < 2_048, "{} bytes", doc.len());
            let refused = async {
                let started = Instant::now();
                let answer = app.graphql(None, &doc, json!({}), &[]).await;
                (answer, started.elapsed())
            };
            let healthz = async {
                let started = Instant::now();
                let res = app.client.get(app.url("/healthz")).send().await.unwrap();
                assert_eq!(res.status(), 200);
                started.elapsed()
            };
            let ((answer, took), healthz_took) = tokio::join!(refused, healthz);
            assert_eq!(
                code(&answer),
                "BAD_USER_INPUT",
                "{operation} {levels}: {answer}"
            );
            assert!(
                message(&answer).contains("selections once its fragments are spread"),
                "{answer}"
            );
            assert!(answer["data"].is_null(), "{answer}");
            assert!(
                took < Duration::from_secs(1),
                "{operation} of {levels} levels took {took:?}"
            );
            assert!(
                healthz_took < Duration::from_millis(500),
                "/healthz took {healthz_took:?} beside {operation} of {levels} levels"
            );
        }
    }
    // A fragment that spreads itself is refused the same way.
    let answer = app
        .graphql(
            None,
            "{ ...A } fragment A on query_root { hello ...B } fragment B on query_root { ...A }",
            json!({}),
            &[],
        )
        .await;
    assert_eq!(code(&answer), "BAD_USER_INPUT", "{answer}");
    assert!(message(&answer).contains("spreads itself"), "{answer}");
}

async fn twelve_aliased_mutations_in_seventeen_inline_fragments_are_refused_and_none_runs(
    backend: Backend,
) {
    let (app, tenant, admin, key) = tenant_with_admin(backend).await;
    let mut victims = Vec::new();
    for _ in 0..12 {
        victims.push(app.create_key(&admin, &tenant, None).await.0);
    }
    // One aliased deletion per key.
    let deletions = |ids: &[String]| {
        ids.iter()
            .enumerate()
            .map(|(i, id)| {
                format!("d{i}: delete_api_key(input: {{key_id: \"{id}\"}}) {{ success }}")
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut inner = deletions(&victims);
    for _ in 0..17 {
        inner = format!("... on mutation_root {{ {inner} }}");
    }
    let half = deletions(&victims[..6]);
    let documents = [
        format!("mutation {{ {inner} }}"),
        // The same twelve through a fragment spread twice.
        format!("mutation {{ ...M ... on mutation_root {{ ...M }} }} fragment M on mutation_root {{ {half} }}"),
    ];
    for document in &documents {
        let answer = app.gql(&key, document).await;
        assert_eq!(code(&answer), "BAD_USER_INPUT", "{answer}");
        assert!(
            message(&answer).contains("carries 12 mutations"),
            "{answer}"
        );
        assert!(answer["data"].is_null(), "{answer}");
    }

    let (admin_id, tenant_id) = (admin.clone(), tenant.clone());
    let left = app
        .run(move |conn, _| {
            Ok(keyward::db::models::ApiKey::count_of_account_in(
                conn, &admin_id, &tenant_id,
            )?)
        })
        .await
        .unwrap();
    assert_eq!(left, 13, "no key was deleted");
}

async fn an_offset_over_ten_thousand_is_refused_with_the_way_to_read_further(backend: Backend) {
    let (app, tenant, admin, key) = tenant_with_admin(backend).await;
    app.seed_keys(&admin, &tenant, 30).await;

    let answer = app
        .graphql(
            Some(&key),
            "{ auth_api_key(limit: 10, offset: 10001) { id } }",
            json!({}),
            &[],
        )
        .await;
    assert_eq!(code(&answer), "BAD_USER_INPUT", "{answer}");
    let said = message(&answer);
    assert!(
        said.contains("offset") && said.contains("at most 10000"),
        "{said}"
    );
    assert!(said.contains("created_at: {_lt:"), "{said}");
    // Every list shares the cap.
    for list in [
        "service_accounts",
        "members",
        "invitations",
        "audit_events",
        "agents",
        "tenant",
    ] {
        let answer = app
            .graphql(
                Some(&key),
                &format!("{{ {list}(offset: 20000) {{ __typename }} }}"),
                json!({}),
                &[],
            )
            .await;
        assert_eq!(code(&answer), "BAD_USER_INPUT", "{list}: {answer}");
        assert!(
            message(&answer).contains("at most 10000"),
            "{list}: {answer}"
        );
    }
    let answer = app
        .graphql(
            Some(&key),
            "{ auth_api_key(limit: 10, offset: 10000) { id } }",
            json!({}),
            &[],
        )
        .await;
    assert_eq!(answer["data"]["auth_api_key"], json!([]), "{answer}");

    // What the message says works: the rows after the 10th, by created_at.
    let ids = |answer: &Value| -> Vec<String> {
        answer["data"]["auth_api_key"]
            .as_array()
            .unwrap_or_else(|| panic!("{answer}"))
            .iter()
            .map(|k| k["id"].as_str().unwrap().to_string())
            .collect()
    };
    let first = app
        .graphql(
            Some(&key),
            "{ auth_api_key(limit: 10, order_by: {created_at: desc}) { id created_at } }",
            json!({}),
            &[],
        )
        .await;
    let last_at = first["data"]["auth_api_key"][9]["created_at"].clone();
    let by_offset = app
        .graphql(
            Some(&key),
            "{ auth_api_key(limit: 10, offset: 10, order_by: {created_at: desc}) { id } }",
            json!({}),
            &[],
        )
        .await;
    let by_where = app
        .graphql(
            Some(&key),
            "query($at: DateTime!) { auth_api_key(limit: 10, order_by: {created_at: desc}, where: {created_at: {_lt: $at}}) { id } }",
            json!({ "at": last_at }),
            &[],
        )
        .await;
    assert_eq!(ids(&by_where), ids(&by_offset));
    assert_eq!(ids(&by_where).len(), 10);
}

/// `where: {name: {_eq}}` reads the few keys of that name first (an account holds one
/// key of a name in a tenant), then orders the page among them: an admin's own key and
/// the tenant's service-account keys of that name, newest first, paged, and nothing of
/// another tenant.
async fn a_name_filter_finds_the_own_and_service_account_keys_of_that_name(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("acme").await;
    let other = app.create_tenant("other").await;
    let admin = app
        .create_person("ada@example.com", &tenant.id, Role::Admin)
        .await;
    app.add_member(&admin.id, &other.id, Role::Admin).await;
    let (_, key) = app.create_key(&admin.id, &tenant.id, None).await;
    let robot = app.create_service_account(&tenant.id, "robot").await;
    let elsewhere = app.create_service_account(&other.id, "elsewhere").await;
    app.seed_keys(&admin.id, &tenant.id, 30).await;
    app.seed_keys(&admin.id, &other.id, 30).await;
    app.seed_keys(&robot.id, &tenant.id, 5).await;
    app.seed_keys(&elsewhere.id, &other.id, 5).await;

    let rows = |query: &str| {
        let query = query.to_string();
        let app = &app;
        let key = &key;
        async move {
            let answer = app.graphql(Some(key), &query, json!({}), &[]).await;
            answer["data"]["auth_api_key"]
                .as_array()
                .unwrap_or_else(|| panic!("{query}: {answer}"))
                .iter()
                .map(|k| {
                    (
                        k["user_id"].as_str().unwrap().to_string(),
                        k["name"].as_str().unwrap().to_string(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let named =
        rows(r#"{ auth_api_key(where: {name: {_eq: "seeded key 3"}}) { user_id name } }"#).await;
    let mut owners: Vec<&str> = named.iter().map(|(owner, _)| owner.as_str()).collect();
    owners.sort_unstable();
    let mut expected = vec![admin.id.as_str(), robot.id.as_str()];
    expected.sort_unstable();
    assert_eq!(
        owners, expected,
        "the admin's and the tenant's service account's: {named:?}"
    );
    assert!(
        named.iter().all(|(_, name)| name == "seeded key 3"),
        "{named:?}"
    );

    // Paged among them, in the same order.
    let second = rows(r#"{ auth_api_key(where: {name: {_eq: "seeded key 3"}}, limit: 1, offset: 1) { user_id name } }"#).await;
    assert_eq!(second, named[1..].to_vec());
    // With the other conditions.
    let robots = rows(&format!(
        r#"{{ auth_api_key(where: {{name: {{_eq: "seeded key 3"}}, user_id: {{_eq: "{}"}}}}) {{ user_id name }} }}"#,
        robot.id
    ))
    .await;
    assert_eq!(robots, vec![(robot.id.clone(), "seeded key 3".to_string())]);
    // Only the admin has a 20th key.
    let only_own = rows(r#"{ auth_api_key(where: {name: {_eq: "seeded key 20"}}, order_by: {name: asc}) { user_id name } }"#).await;
    assert_eq!(
        only_own,
        vec![(admin.id.clone(), "seeded key 20".to_string())]
    );
    let nobody =
        rows(r#"{ auth_api_key(where: {name: {_eq: "no such key"}}) { user_id name } }"#).await;
    assert_eq!(nobody, vec![]);
}

/// Holds what a key creation needs to write: SQLite's write lock, or the tenant's row
/// lock on PostgreSQL. Released when dropped.
struct HeldLock(#[allow(dead_code)] DbConnection);

fn hold_write_lock(url: &DatabaseUrl, tenant_id: &str) -> HeldLock {
    let mut conn = url.establish().expect("a connection of the test's own");
    match &mut conn {
        DbConnection::Sqlite(c) => c.batch_execute("BEGIN IMMEDIATE").unwrap(),
        DbConnection::Postgres(c) => c
            .batch_execute(&format!(
                "BEGIN; SELECT id FROM tenants WHERE id = '{tenant_id}' FOR UPDATE"
            ))
            .unwrap(),
    }
    HeldLock(conn)
}

async fn a_keys_third_graphql_request_at_once_answers_429(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("acme").await;
    let admin = app
        .create_person("ada@example.com", &tenant.id, Role::Admin)
        .await;
    let (key_id, key) = app.create_key(&admin.id, &tenant.id, None).await;
    let auth_info = "{ auth_info { api_key_id } }";
    // Its once-a-minute bookkeeping is written now, not while the lock is held.
    let answer = app.graphql(Some(&key), auth_info, json!({}), &[]).await;
    assert_eq!(answer["data"]["auth_info"]["api_key_id"], json!(key_id));

    let (_, other_key) = app.create_key(&admin.id, &tenant.id, None).await;
    let answer = app
        .graphql(Some(&other_key), auth_info, json!({}), &[])
        .await;
    assert!(answer["data"]["auth_info"].is_object(), "{answer}");

    // Two key creations wait for a lock the test holds: two requests of the key running.
    let lock = hold_write_lock(&app.db.database_url(), &tenant.id);
    let mut creations = Vec::new();
    for i in 0..2 {
        let (client, url, key, admin_id) = (
            app.client.clone(),
            app.url("/graphql"),
            key.clone(),
            admin.id.clone(),
        );
        creations.push(tokio::spawn(async move {
            let res = client
                .post(url)
                .bearer_auth(key)
                .json(&json!({
                    "query": CREATE_KEY,
                    "variables": { "input": { "user_id": admin_id, "name": format!("held {i}") } }
                }))
                .send()
                .await
                .unwrap();
            res.json::<Value>().await.unwrap()
        }));
    }
    // A third request of the same key answers 429 once both hold their place (a read
    // that needs no lock, so until then it simply answers). They hold it until the lock
    // goes or the statement budget (5 s) ends them: no wall-clock deadline here, which a
    // loaded machine can outrun; if both have answered and no 429 was seen, that fails.
    let refused = loop {
        let res = app
            .client
            .post(app.url("/graphql"))
            .bearer_auth(&key)
            .json(&json!({ "query": auth_info }))
            .send()
            .await
            .unwrap();
        if res.status() == 429 {
            break res.json::<Value>().await.unwrap();
        }
        assert_eq!(res.status(), 200);
        if creations.iter().all(|c| c.is_finished()) {
            let mut answers = Vec::new();
            for creation in creations {
                answers.push(creation.await.unwrap());
            }
            panic!("no 429 while two requests of the key were held; they answered {answers:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(code(&refused), "TOO_MANY_REQUESTS", "{refused}");
    assert!(
        message(&refused).contains("already has 2 GraphQL requests running"),
        "{refused}"
    );
    // Another key is not held back.
    let answer = app
        .graphql(Some(&other_key), auth_info, json!({}), &[])
        .await;
    assert!(answer["data"]["auth_info"].is_object(), "{answer}");

    drop(lock);
    for creation in creations {
        // Created once the lock is gone; on a machine slow enough that the statement
        // budget ran out first, stopped with the budget's clear error instead.
        let answer = creation.await.unwrap();
        assert!(
            answer["data"]["create_api_key"]["id"].is_string() || code(&answer) == "TIMEOUT",
            "{answer}"
        );
    }
    // Their places were given back.
    let answer = app.graphql(Some(&key), auth_info, json!({}), &[]).await;
    assert_eq!(answer["data"]["auth_info"]["api_key_id"], json!(key_id));
}

async fn a_statement_running_past_the_budget_is_stopped_with_a_clear_error(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let long = match backend {
        // Counts for ever unless interrupted.
        Backend::Sqlite => {
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
        }
        Backend::Postgres => "SELECT pg_sleep(30)",
    };
    let started = Instant::now();
    let result = app
        .state
        .run(move |conn, _| {
            conn.batch_execute(long)
                .map_err(keyward::error::AppError::from)
        })
        .await;
    let err = result.expect_err("the statement was stopped");
    assert_eq!(err.code(), "TIMEOUT", "{err}");
    assert!(err.to_string().contains("5 s budget"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "stopped after {:?}",
        started.elapsed()
    );
    // The connection it ran on still serves.
    app.state
        .run(|conn, _| {
            conn.batch_execute("SELECT 1")
                .map_err(keyward::error::AppError::from)
        })
        .await
        .unwrap();
}

/// Reads an HTTP/1.1 response head; its status.
async fn read_status(stream: &mut tokio::net::TcpStream) -> u16 {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).await.expect("read head");
        assert!(n > 0, "the connection closed before a response: {buf:?}");
        buf.push(byte[0]);
    }
    String::from_utf8_lossy(&buf[9..12]).parse().unwrap()
}

async fn sigterm_with_a_stuck_request_exits_within_the_shutdown_timeout_naming_its_route(
    backend: Backend,
) {
    let db = TestDb::new(backend);
    let Seed {
        admin_id,
        admin_key,
        tenant_id,
        ..
    } = seed(&db.url);
    let server = ServerProcess::serve(&db.url, &[("KEYWARD_SHUTDOWN_TIMEOUT", "2")]);
    let port = server.port;
    // The key's once-a-minute bookkeeping is written before the lock is taken.
    let res = crate::support::client()
        .post(server.url("/graphql"))
        .bearer_auth(&admin_key)
        .json(&json!({ "query": "{ auth_info { api_key_id } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // A key creation stuck on a lock the test holds (for 5 s before the database gives
    // up, longer than the shutdown timeout).
    let lock = hold_write_lock(&DatabaseUrl::parse(&db.url).unwrap(), &tenant_id);
    let body = json!({
        "query": CREATE_KEY,
        "variables": { "input": { "user_id": admin_id, "name": "stuck" } }
    })
    .to_string();
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: keyward\r\nAuthorization: Bearer {admin_key}\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // "100 Continue": the server has begun the request, so it is in flight.
    assert_eq!(read_status(&mut stream).await, 100);
    stream.write_all(body.as_bytes()).await.unwrap();

    let signalled = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (code, output) = tokio::task::spawn_blocking(move || server.wait_for_exit())
        .await
        .unwrap();
    let took = signalled.elapsed();
    drop(lock);
    assert_eq!(code, Some(1), "exit status; output:\n{output}");
    assert!(
        took < Duration::from_millis(4_500),
        "exited {took:?} after SIGTERM with a shutdown timeout of 2 s; output:\n{output}"
    );
    assert!(
        output.contains("still running at the shutdown timeout")
            && output.contains("POST /graphql"),
        "the stuck request's route is not in the log:\n{output}"
    );
}

async fn a_body_over_64_kib_posted_to_the_bare_url_is_413(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let padding = " ".repeat(64 * 1024);
    let body = format!("{{\"query\": \"{{ hello }}\"{padding}}}");
    let res = app
        .client
        .post(app.url("/"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let answer: Value = res.json().await.unwrap();
    assert!(message(&answer).contains("64 KiB"), "{answer}");
}

backend_tests!(
    fragment_towers_without_a_key_are_refused_at_once_while_healthz_answers,
    twelve_aliased_mutations_in_seventeen_inline_fragments_are_refused_and_none_runs,
    an_offset_over_ten_thousand_is_refused_with_the_way_to_read_further,
    a_name_filter_finds_the_own_and_service_account_keys_of_that_name,
    a_keys_third_graphql_request_at_once_answers_429,
    a_statement_running_past_the_budget_is_stopped_with_a_clear_error,
    sigterm_with_a_stuck_request_exits_within_the_shutdown_timeout_naming_its_route,
    a_body_over_64_kib_posted_to_the_bare_url_is_413,
    a_document_that_passed_validation_is_still_checked_for_what_its_variables_change,
);

/// Validation of a variable-free document is kept once it passed (`graphql::documents`);
/// what variables change is checked on every request, and a document that failed is
/// never taken for one that passed. Each document is sent several times so that both
/// server workers, each with its own cache, see it again.
async fn a_document_that_passed_validation_is_still_checked_for_what_its_variables_change(
    backend: Backend,
) {
    let (app, _, admin_id, key) = tenant_with_admin(backend).await;
    for _ in 0..6 {
        let answer = app
            .graphql(Some(&key), "{ auth_info { user_id } }", json!({}), &[])
            .await;
        assert_eq!(
            answer["data"]["auth_info"]["user_id"],
            admin_id.as_str(),
            "{answer}"
        );
        // Never valid, however often it is sent.
        let answer = app
            .graphql(
                Some(&key),
                "{ auth_info { no_such_field } }",
                json!({}),
                &[],
            )
            .await;
        assert_eq!(code(&answer), "BAD_USER_INPUT", "{answer}");
        assert!(message(&answer).contains("no_such_field"), "{answer}");
    }
    let listing = "query($n: Int) { auth_api_key(limit: $n) { id } }";
    for _ in 0..4 {
        let answer = app.graphql(Some(&key), listing, json!({"n": 1}), &[]).await;
        assert_eq!(
            answer["data"]["auth_api_key"].as_array().map(Vec::len),
            Some(1),
            "{answer}"
        );
        let answer = app
            .graphql(Some(&key), listing, json!({"n": "one"}), &[])
            .await;
        assert_eq!(
            code(&answer),
            "BAD_USER_INPUT",
            "a string for an Int: {answer}"
        );
        assert!(answer["data"].is_null(), "{answer}");
        let answer = app
            .graphql(Some(&key), listing, json!({"n": 1_000_000}), &[])
            .await;
        assert_eq!(
            code(&answer),
            "BAD_USER_INPUT",
            "a limit too large: {answer}"
        );
        assert!(answer["data"].is_null(), "{answer}");
    }
}
