//! PostgreSQL key reads on each worker's pipelined connection (`db::key_pipeline`, issue
//! 32): they go out there, stay exact (an expiry, the read-only flag, a role change, a
//! removed membership or a deletion by another connection counts on the very next
//! request), cost no request when that connection is cut, and a
//! URL whose settings only libpq understands reads the blocking way instead.

use crate::support::{eventually, pg_connection, postgres_available, Backend, TestApp};
use diesel::connection::SimpleConnection;
use keyward::db::key_pipeline::APPLICATION_NAME;
use keyward::db::DatabaseUrl;
use keyward::domain::Role;

/// The server's pipelined connections to its database, from `pg_stat_activity`.
fn pipelined_connections(app: &TestApp) -> i64 {
    let name = app.db.pg_name().expect("a PostgreSQL test database");
    app.db.pg_admin_count(&format!(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = '{name}' AND application_name = '{APPLICATION_NAME}'"
    ))
}

/// A person's id and key.
async fn key_of_a_person(app: &TestApp) -> (String, String) {
    let tenant = app.create_tenant("acme").await;
    let person = app
        .create_person("ada@example.com", &tenant.id, Role::Admin)
        .await;
    let key = app.create_key(&person.id, &tenant.id, None).await.1;
    (person.id.to_string(), key)
}

/// Sixteen concurrent whoamis, all of which must be 200 (they reach both workers).
async fn sixteen_whoamis(app: &TestApp, key: &str) {
    let answers = futures_util::future::join_all((0..16).map(|_| app.whoami_status(key))).await;
    assert!(
        answers.iter().all(|s| *s == 200),
        "whoami answered {answers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_key_reads_are_pipelined_per_worker_exact_and_survive_a_cut_connection() {
    if !postgres_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Postgres).await;
    let (person_id, key) = key_of_a_person(&app).await;

    eventually("a pipelined key-read connection", || async {
        sixteen_whoamis(&app, &key).await;
        let open = pipelined_connections(&app);
        assert!(open <= 2, "{open} pipelined connections for 2 workers");
        (open >= 1).then_some(())
    })
    .await;

    // Cut them: no request fails for it, and they are opened again.
    app.db.pg_admin_execute(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = '{APPLICATION_NAME}' AND datname = '{}'",
        app.db.pg_name().unwrap()
    ));
    for _ in 0..4 {
        sixteen_whoamis(&app, &key).await;
    }
    eventually("the pipelined connection opened again", || async {
        sixteen_whoamis(&app, &key).await;
        (pipelined_connections(&app) >= 1).then_some(())
    })
    .await;

    // Exact on the pipelined read: another connection's change counts on the next request.
    let mut other = pg_connection(&app.db.url).expect("a connection of the test's own");
    other
        .batch_execute("UPDATE api_keys SET expires_at = now() - interval '1 minute'")
        .unwrap();
    let res = app.get_with_key("/api/whoami", &key).await;
    assert_eq!(res.status().as_u16(), 401);
    let body = res.text().await.unwrap();
    assert!(body.contains("expired"), "{body}");
    other
        .batch_execute("UPDATE api_keys SET expires_at = NULL")
        .unwrap();
    assert_eq!(app.whoami_status(&key).await, 200);
    // Read-only and a changed role, on the next GraphQL request.
    let create = format!(
        r#"mutation {{ create_api_key(input: {{name: "k2", user_id: "{person_id}"}}) {{ id }} }}"#
    );
    other
        .batch_execute("UPDATE api_keys SET read_only = true")
        .unwrap();
    let answer = app
        .graphql(Some(&key), &create, serde_json::json!({}), &[])
        .await;
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{answer}"
    );
    other
        .batch_execute(
            "UPDATE api_keys SET read_only = false; UPDATE memberships SET role = 'READ_ONLY_USER'",
        )
        .unwrap();
    let answer = app
        .graphql(
            Some(&key),
            "{ auth_info { role } }",
            serde_json::json!({}),
            &[],
        )
        .await;
    assert_eq!(
        answer["data"]["auth_info"]["role"], "READ_ONLY_USER",
        "{answer}"
    );
    // The membership gone: the key no longer authenticates.
    other.batch_execute("DELETE FROM memberships").unwrap();
    assert_eq!(app.whoami_status(&key).await, 401);
    other.batch_execute("DELETE FROM api_keys").unwrap();
    assert_eq!(app.whoami_status(&key).await, 401);
    assert!(pipelined_connections(&app) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_url_with_a_setting_only_libpq_knows_reads_keys_the_blocking_way() {
    if !postgres_available() {
        return;
    }
    // `gssencmode` is libpq's; tokio-postgres refuses options it does not know.
    let app = TestApp::spawn_with(Backend::Postgres, |settings| {
        let url = settings.database_url.to_string();
        let separator = if url.contains('?') { '&' } else { '?' };
        settings.database_url =
            DatabaseUrl::parse(&format!("{url}{separator}gssencmode=disable")).unwrap();
    })
    .await;
    let (_, key) = key_of_a_person(&app).await;
    for _ in 0..4 {
        sixteen_whoamis(&app, &key).await;
    }
    assert_eq!(pipelined_connections(&app), 0);
}
