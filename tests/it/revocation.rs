//! Revocation is exact on the hot path (DESIGN §4): however a key stops being valid —
//! through GraphQL on another instance, by `keyward admin` in another process, by a row
//! deleted or a role changed by hand on another connection — the very next request to
//! any instance sees it. Each check first warms every worker (fresh TCP connections are
//! spread over the workers, each of which keeps its own SQLite connection), so a stale
//! per-thread connection or cache would show.

use crate::backend_tests;
use crate::support::{client, run_keyward, test_settings, Backend, TestApp};
use diesel::connection::SimpleConnection;
use diesel::Connection;
use keyward::domain::{Clock, Role};
use keyward::startup::Application;
use serde_json::{json, Value};

backend_tests!(
    a_key_revoked_through_graphql_on_one_instance_is_refused_by_the_next_request_to_any,
    a_key_removed_by_keyward_admin_in_another_process_is_refused_by_the_next_request,
    a_key_row_deleted_by_hand_is_refused_by_the_next_request,
    a_role_changed_by_hand_shows_in_the_next_request,
);

/// Enough requests on fresh connections to reach every worker of a 2-worker server.
const ROUNDS: usize = 8;

/// A second server on the same database.
async fn second_instance(app: &TestApp) -> String {
    let second = Application::build(test_settings(&app.db), Clock::system()).expect("builds");
    let address = format!("http://127.0.0.1:{}", second.port());
    tokio::spawn(second.run_until_stopped());
    address
}

/// (HTTP status of `/api/whoami`, GraphQL `auth_info` answer), each on a new connection.
async fn ask(base: &str, key: &str) -> (u16, Value, Value) {
    let whoami = client()
        .get(format!("{base}/api/whoami"))
        .bearer_auth(key)
        .send()
        .await
        .expect("whoami");
    let status = whoami.status().as_u16();
    let body: Value = whoami.json().await.unwrap_or(Value::Null);
    let info: Value = client()
        .post(format!("{base}/graphql"))
        .bearer_auth(key)
        .json(&json!({ "query": "{ auth_info { api_key_id role } }" }))
        .send()
        .await
        .expect("graphql")
        .json()
        .await
        .expect("graphql answers JSON");
    (status, body, info)
}

async fn assert_accepted_everywhere(bases: &[&str], key: &str, role: &str) {
    for base in bases {
        for _ in 0..ROUNDS {
            let (status, body, info) = ask(base, key).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["role"], role, "{body}");
            assert_eq!(info["data"]["auth_info"]["role"], role, "{info}");
        }
    }
}

async fn assert_refused_everywhere(bases: &[&str], key: &str) {
    for base in bases {
        for _ in 0..ROUNDS {
            let (status, body, info) = ask(base, key).await;
            assert_eq!(status, 401, "{body}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("unknown or has been revoked")),
                "{body}"
            );
            assert_eq!(info["data"], Value::Null, "{info}");
            assert_eq!(
                info["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
                "{info}"
            );
        }
    }
}

/// A tenant `slug` with an admin who has two keys: (tenant id, admin id, key to revoke,
/// key that revokes).
async fn admin_with_two_keys(app: &TestApp, slug: &str) -> (String, String, String, String) {
    let tenant = app.create_tenant(slug).await;
    let admin = app
        .create_person(&format!("admin@{slug}.example"), &tenant.id, Role::Admin)
        .await;
    let (_, victim) = app.create_key(&admin.id, &tenant.id, None).await;
    let (_, revoker) = app.create_key(&admin.id, &tenant.id, None).await;
    (tenant.id, admin.id, victim, revoker)
}

/// Runs SQL on a connection of its own, as someone at a database prompt would.
fn by_hand(app: &TestApp, sql: &str) {
    match app.backend {
        Backend::Sqlite => {
            let path = app.db.sqlite_path().expect("sqlite path");
            let mut conn =
                diesel::SqliteConnection::establish(path.to_str().unwrap()).expect("sqlite");
            conn.batch_execute(&format!("PRAGMA busy_timeout = 5000; {sql}"))
                .expect("sql by hand");
        }
        Backend::Postgres => {
            let mut conn = crate::support::pg_connection(&app.db.url).expect("postgres");
            conn.batch_execute(sql).expect("sql by hand");
        }
    }
}

async fn a_key_revoked_through_graphql_on_one_instance_is_refused_by_the_next_request_to_any(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let other = second_instance(&app).await;
    let (_, _, victim, revoker) = admin_with_two_keys(&app, "acme").await;
    let bases = [app.address.as_str(), other.as_str()];
    assert_accepted_everywhere(&bases, &victim, "ADMIN").await;
    let (_, body, _) = ask(&app.address, &victim).await;
    let key_id = body["api_key_id"].as_str().unwrap().to_string();

    let answer: Value = client()
        .post(app.url("/graphql"))
        .bearer_auth(&revoker)
        .json(&json!({
            "query": "mutation($input: delete_api_key_input!) { delete_api_key(input: $input) { success } }",
            "variables": { "input": { "key_id": key_id } },
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer["data"]["delete_api_key"]["success"], true,
        "{answer}"
    );

    assert_refused_everywhere(&[&other, &app.address], &victim).await;
    assert_accepted_everywhere(&bases, &revoker, "ADMIN").await;
}

async fn a_key_removed_by_keyward_admin_in_another_process_is_refused_by_the_next_request(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, _, doomed, _) = admin_with_two_keys(&app, "doomed").await;
    let (_, _, kept, _) = admin_with_two_keys(&app, "kept").await;
    let bases = [app.address.as_str()];
    assert_accepted_everywhere(&bases, &doomed, "ADMIN").await;

    let url = app.db.url.clone();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        run_keyward(
            &[
                "admin",
                "--database-url",
                &url,
                "delete-tenant",
                "--slug",
                "doomed",
                "--yes",
            ],
            "",
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}{err}");

    assert_refused_everywhere(&bases, &doomed).await;
    assert_accepted_everywhere(&bases, &kept, "ADMIN").await;
}

async fn a_key_row_deleted_by_hand_is_refused_by_the_next_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let other = second_instance(&app).await;
    let (_, _, victim, _) = admin_with_two_keys(&app, "acme").await;
    let bases = [app.address.as_str(), other.as_str()];
    assert_accepted_everywhere(&bases, &victim, "ADMIN").await;
    let (_, body, _) = ask(&app.address, &victim).await;
    let key_id = body["api_key_id"].as_str().unwrap().to_string();

    by_hand(&app, &format!("DELETE FROM api_keys WHERE id = '{key_id}'"));

    assert_refused_everywhere(&bases, &victim).await;
}

async fn a_role_changed_by_hand_shows_in_the_next_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let other = second_instance(&app).await;
    let (tenant, admin, key, _) = admin_with_two_keys(&app, "acme").await;
    let bases = [app.address.as_str(), other.as_str()];
    assert_accepted_everywhere(&bases, &key, "ADMIN").await;

    by_hand(
        &app,
        &format!(
            "UPDATE memberships SET role = 'READ_ONLY_USER' \
             WHERE account_id = '{admin}' AND tenant_id = '{tenant}'"
        ),
    );
    assert_accepted_everywhere(&bases, &key, "READ_ONLY_USER").await;

    by_hand(
        &app,
        &format!("DELETE FROM memberships WHERE account_id = '{admin}'"),
    );
    assert_refused_everywhere(&bases, &key).await;
}
