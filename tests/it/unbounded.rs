//! Nothing unbounded: every list is paged (dashboard and GraphQL) whatever an account
//! holds, quotas hold under concurrency on every surface, and request cost is capped.

use crate::backend_tests;
use crate::support::browser::Browser;
use crate::support::{Backend, TestApp};
use keyward::domain::Role;
use serde_json::{json, Value};

fn ids(answer: &Value, field: &str) -> Vec<String> {
    answer["data"][field]
        .as_array()
        .unwrap_or_else(|| panic!("no {field} in {answer}"))
        .iter()
        .map(|k| k["id"].as_str().unwrap().to_string())
        .collect()
}

fn error_of(answer: &Value) -> (String, String) {
    (
        answer["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        answer["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

async fn a_hundred_thousand_keys_are_answered_a_page_at_a_time(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("big").await;
    let ada = app
        .create_person("ada@example.com", &t.id, Role::User)
        .await;
    let (_, key) = app.create_key(&ada.id, &t.id, None).await;
    app.seed_keys(&ada.id, &t.id, 100_000).await;

    // GraphQL: no arguments answers the first 1,000, newest first (the real key first).
    let all = app.gql(&key, "{ auth_api_key { id name } }").await;
    let first = ids(&all, "auth_api_key");
    assert_eq!(first.len(), 1_000);
    assert_eq!(all["data"]["auth_api_key"][0]["name"], "test key");
    assert_eq!(all["data"]["auth_api_key"][1]["name"], "seeded key 99999");
    let page = app
        .gql(&key, "{ auth_api_key(limit: 10, offset: 20) { id } }")
        .await;
    assert_eq!(ids(&page, "auth_api_key"), first[20..30].to_vec());
    let count = app
        .gql(&key, "{ auth_api_key_aggregate { aggregate { count } } }")
        .await;
    assert_eq!(
        count["data"]["auth_api_key_aggregate"]["aggregate"]["count"],
        100_001
    );
    let expired = app.gql(&key,
        r#"{ auth_api_key_aggregate(where: {expires_at: {_lt: "2021-01-01T00:00:00Z"}}) { aggregate { count } } }"#,
    )
    .await;
    assert_eq!(
        expired["data"]["auth_api_key_aggregate"]["aggregate"]["count"],
        10_000
    );
    let named = app.gql(&key,
        r#"{ auth_api_key(where: {name: {_ilike: "%KEY 4242"}}, order_by: {name: asc}) { name } }"#,
    )
    .await;
    assert_eq!(
        named["data"]["auth_api_key"],
        json!([{ "name": "seeded key 4242" }])
    );
    let too_many = app.gql(&key, "{ auth_api_key(limit: 1001) { id } }").await;
    let (code, message) = error_of(&too_many);
    assert_eq!(code, "BAD_USER_INPUT", "{too_many}");
    assert!(message.contains("1000"), "{message}");

    // Dashboard: 50 a page, the total, Older/Newer links that lead somewhere.
    let browser = Browser::new(&app);
    browser.sign_in("ada@example.com").await;
    let html = browser.get("/user/api-keys").await.text().await.unwrap();
    assert!(html.len() < 300_000, "the page is {} bytes", html.len());
    assert!(html.contains("100,001 keys"), "no total");
    assert_eq!(html.matches("data-key-id=\"").count() / 2, 50);
    assert!(!html.contains("id=\"api-keys-newer\""));
    let older = href_of(&html, "api-keys-older");
    let page2 = browser.get(&older).await.text().await.unwrap();
    assert!(
        page2.contains("data-key-name=\"seeded key 99950\""),
        "page 2 starts after page 1"
    );
    assert!(!page2.contains("data-key-name=\"seeded key 99951\""));
    let newer = href_of(&page2, "api-keys-newer");
    let back = browser.get(&newer).await.text().await.unwrap();
    assert!(back.contains("data-key-name=\"test key\""));
    assert!(back.contains("data-key-name=\"seeded key 99951\""));

    let search = browser
        .get("/user/api-keys?q=KEY+99999&filter=all")
        .await
        .text()
        .await
        .unwrap();
    assert!(search.contains("1 key<"), "one match");
    assert!(search.contains("data-key-name=\"seeded key 99999\""));
    let expired = browser
        .get("/user/api-keys?filter=expired")
        .await
        .text()
        .await
        .unwrap();
    assert!(expired.contains("10,000 keys"));
    let never_used = browser
        .get("/user/api-keys?filter=never-used&q=seeded")
        .await
        .text()
        .await
        .unwrap();
    assert!(never_used.contains("100,000 keys"));
}

fn href_of(html: &str, id: &str) -> String {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}"));
    let start = html[..at].rfind("href=\"").expect("href") + 6;
    let end = start + html[start..].find('"').unwrap();
    html[start..end].replace("&amp;", "&")
}

const CREATE: &str =
    r#"mutation($input: create_api_key_input!) { create_api_key(input: $input) { id } }"#;

async fn create_through_graphql(app: &TestApp, key: &str, user_id: &str, name: &str) -> Value {
    let input = json!({ "user_id": user_id, "name": name });
    app.graphql(Some(key), CREATE, json!({ "input": input }), &[])
        .await
}

async fn count_keys(app: &TestApp, account: &str) -> i64 {
    let account = account.to_string();
    app.run(move |conn, _| {
        Ok(keyward::db::models::ApiKey::count_of_account(
            conn, &account,
        )?)
    })
    .await
    .unwrap()
}

async fn the_fourth_key_is_refused_on_every_surface_and_racing_never_overshoots(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.quotas.max_keys_per_account = 3).await;
    let t = app.create_tenant("quota").await;
    let ada = app
        .create_person("ada@example.com", &t.id, Role::Admin)
        .await;
    let (_, key) = app.create_key(&ada.id, &t.id, None).await;

    // 20 creations racing (two at a time: a key's limit) for two slots: never more than 3
    // in all.
    let racing = (0..20).map(|i| {
        let (app, key, id) = (&app, key.clone(), ada.id.clone());
        async move { create_through_graphql(app, &key, &id, &format!("race {i}")).await }
    });
    let answers = futures_util::future::join_all(racing).await;
    let made = answers.iter().filter(|a| a["errors"].is_null()).count();
    assert_eq!(made, 2, "{answers:?}");
    assert_eq!(count_keys(&app, &ada.id).await, 3);
    let refused = answers.iter().find(|a| !a["errors"].is_null()).unwrap();
    let (code, message) = error_of(refused);
    assert_eq!(code, "BAD_USER_INPUT");
    assert!(message.contains("3 API keys"), "{message}");
    assert!(
        message.contains("KEYWARD_MAX_KEYS_PER_ACCOUNT"),
        "{message}"
    );

    // The dashboard says the same.
    let browser = Browser::new(&app);
    browser.sign_in("ada@example.com").await;
    let (csrf, nonce) = browser.open_create_form().await;
    let res = browser
        .post(
            "/user/api-keys",
            &[
                ("csrf_token", csrf.as_str()),
                ("nonce", nonce.as_str()),
                ("name", "fourth"),
                ("expiration", "never"),
                ("tenant_id", t.id.as_str()),
            ],
        )
        .await;
    let body = res.text().await.unwrap();
    assert!(body.contains("max_keys_per_account"), "{body}");
    assert_eq!(count_keys(&app, &ada.id).await, 3);

    // And `keyward admin`, reading the setting from its environment.
    let (code, _, err) = run_keyward_with(
        &app,
        &[
            "admin",
            "create-key",
            "--account",
            "ada@example.com",
            "--tenant",
            "quota",
            "--name",
            "cli",
        ],
        &[("KEYWARD_MAX_KEYS_PER_ACCOUNT", "3")],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("max_keys_per_account"), "{err}");
    assert_eq!(count_keys(&app, &ada.id).await, 3);
}

fn run_keyward_with(app: &TestApp, args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let out = std::process::Command::new(crate::support::keyward_bin())
        .args(args)
        .arg("--database-url")
        .arg(&app.db.url)
        .envs(envs.iter().copied())
        .output()
        .expect("keyward runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn service_accounts_and_invitations_stop_at_their_quotas(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.quotas.max_service_accounts_per_tenant = 3;
        s.quotas.max_pending_invitations_per_tenant = 3;
    })
    .await;
    let t = app.create_tenant("quota").await;
    let ada = app
        .create_person("ada@example.com", &t.id, Role::Admin)
        .await;
    let (_, key) = app.create_key(&ada.id, &t.id, None).await;
    let create_sa: Vec<String> = (0..20)
        .map(|i| {
            format!(
                r#"mutation {{ create_service_account(input: {{name: "robot {i}"}}) {{ id }} }}"#
            )
        })
        .collect();
    let racing = create_sa.iter().map(|doc| app.gql(&key, doc));
    let answers = futures_util::future::join_all(racing).await;
    assert_eq!(answers.iter().filter(|a| a["errors"].is_null()).count(), 3);
    let refused = answers.iter().find(|a| !a["errors"].is_null()).unwrap();
    assert!(error_of(refused)
        .1
        .contains("max_service_accounts_per_tenant"));

    let invite = r#"mutation { create_invitation(input: {role: USER}) { token } }"#;
    let racing = (0..20).map(|_| app.gql(&key, invite));
    let answers = futures_util::future::join_all(racing).await;
    assert_eq!(answers.iter().filter(|a| a["errors"].is_null()).count(), 3);
    let refused = answers.iter().find(|a| !a["errors"].is_null()).unwrap();
    assert!(error_of(refused)
        .1
        .contains("max_pending_invitations_per_tenant"));
}

async fn request_cost_is_refused_before_any_work(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("cost").await;
    let ada = app
        .create_person("ada@example.com", &t.id, Role::Admin)
        .await;
    let (_, key) = app.create_key(&ada.id, &t.id, None).await;
    let mutation = |n: usize| {
        let fields: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    r#"k{i}: create_api_key(input: {{user_id: "{}", name: "k{i}"}}) {{ id }}"#,
                    ada.id
                )
            })
            .collect();
        format!("mutation {{ {} }}", fields.join(" "))
    };
    let eleven = app.gql(&key, &mutation(11)).await;
    let (code, message) = error_of(&eleven);
    assert_eq!(code, "BAD_USER_INPUT", "{eleven}");
    assert!(message.contains("at most 10"), "{message}");
    assert_eq!(count_keys(&app, &ada.id).await, 1, "nothing was created");
    let ten = app.gql(&key, &mutation(10)).await;
    assert!(ten["errors"].is_null(), "{ten}");
    assert_eq!(count_keys(&app, &ada.id).await, 11);

    // 240 aliases of a list: each counts its 1,000 rows, so the request is refused whole.
    let aliases: Vec<String> = (0..240)
        .map(|i| format!("a{i}: auth_api_key {{ id }}"))
        .collect();
    let wide = app.gql(&key, &format!("{{ {} }}", aliases.join(" "))).await;
    assert_eq!(wide["data"], Value::Null, "{wide}");
    assert!(
        wide["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("too complex"),
        "{wide}"
    );
    // With small pages the same aliases are fine.
    let small: Vec<String> = (0..240)
        .map(|i| format!("a{i}: auth_api_key(limit: 5) {{ id }}"))
        .collect();
    let ok = app.gql(&key, &format!("{{ {} }}", small.join(" "))).await;
    assert_eq!(ok["data"]["a239"].as_array().map(Vec::len), Some(5), "{ok}");
}

/// An admin's `auth_api_key` answers their own keys and the tenant's service-account keys,
/// which the server reads as two ordered queries and merges: every page, in either
/// direction, must be exactly the slice of the whole list, ties on `created_at` included.
async fn an_admins_own_and_service_account_keys_page_as_one_list(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("merge").await;
    let admin = app
        .create_person("admin@example.com", &t.id, Role::Admin)
        .await;
    let (_, key) = app.create_key(&admin.id, &t.id, None).await;
    let robot = app.create_service_account(&t.id, "robot").await;
    // The same creation times on both sides: the order falls back to the id.
    app.seed_keys(&admin.id, &t.id, 40).await;
    app.seed_keys(&robot.id, &t.id, 40).await;

    let whole = ids(
        &app.gql(&key, "{ auth_api_key { id } }").await,
        "auth_api_key",
    );
    assert_eq!(whole.len(), 81);
    let mut unique = whole.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 81, "no key twice");
    let count = app
        .gql(&key, "{ auth_api_key_aggregate { aggregate { count } } }")
        .await;
    assert_eq!(
        count["data"]["auth_api_key_aggregate"]["aggregate"]["count"], 81,
        "counted once each, both sides"
    );
    let mut paged = Vec::new();
    for offset in (0..81).step_by(7) {
        let page = app
            .gql(
                &key,
                &format!("{{ auth_api_key(limit: 7, offset: {offset}) {{ id }} }}"),
            )
            .await;
        paged.extend(ids(&page, "auth_api_key"));
    }
    assert_eq!(paged, whole, "the pages are the whole list's slices");
    let oldest_first = app
        .gql(
            &key,
            "{ auth_api_key(order_by: {created_at: asc}, limit: 20, offset: 5) { id } }",
        )
        .await;
    let mut reversed = whole.clone();
    reversed.reverse();
    assert_eq!(ids(&oldest_first, "auth_api_key"), reversed[5..25].to_vec());
    // An order the server does not merge (by name) still holds every key once.
    let by_name = app
        .gql(&key, "{ auth_api_key(order_by: {name: asc}) { id } }")
        .await;
    let mut by_name = ids(&by_name, "auth_api_key");
    by_name.sort();
    assert_eq!(by_name, unique);
    // Its pages, either way, are slices of it (the database orders each page among both
    // sides' first ids).
    for direction in ["asc", "desc"] {
        let order = format!("order_by: {{name: {direction}}}");
        let whole = app
            .gql(&key, &format!("{{ auth_api_key({order}) {{ id }} }}"))
            .await;
        let whole = ids(&whole, "auth_api_key");
        let mut paged = Vec::new();
        for offset in (0..81).step_by(9) {
            let page = app
                .gql(
                    &key,
                    &format!("{{ auth_api_key({order}, limit: 9, offset: {offset}) {{ id }} }}"),
                )
                .await;
            paged.extend(ids(&page, "auth_api_key"));
        }
        assert_eq!(paged, whole, "pages by name {direction}");
    }
}

backend_tests!(
    an_admins_own_and_service_account_keys_page_as_one_list,
    request_cost_is_refused_before_any_work,
    a_hundred_thousand_keys_are_answered_a_page_at_a_time,
    the_fourth_key_is_refused_on_every_surface_and_racing_never_overshoots,
    service_accounts_and_invitations_stop_at_their_quotas,
    housekeeping_deletes_expired_sessions_stale_failures_and_old_invitations_only,
);

async fn table_count(app: &TestApp, table: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let sql = format!("SELECT COUNT(*) AS n FROM {table}");
    app.run(move |conn, _| {
        use diesel::RunQueryDsl;
        Ok(diesel::sql_query(sql).get_result::<N>(conn)?.n)
    })
    .await
    .unwrap()
}

async fn sweep(app: &TestApp, retention: Option<i64>) -> keyward::services::housekeeping::Swept {
    app.run(move |conn, now| keyward::services::housekeeping::sweep(conn, now, retention))
        .await
        .unwrap()
}

async fn housekeeping_deletes_expired_sessions_stale_failures_and_old_invitations_only(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("tidy").await;
    let ada = app
        .create_person("ada@example.com", &t.id, Role::Admin)
        .await;
    let (_, key) = app.create_key(&ada.id, &t.id, None).await;
    let old = Browser::new(&app);
    old.sign_in("ada@example.com").await;
    old.sign_in_with("ada@example.com", "wrong password").await;
    let used = app
        .gql(
            &key,
            r#"mutation { create_invitation(input: {role: USER}) { invitation { id } } }"#,
        )
        .await;
    assert!(used["errors"].is_null(), "{used}");
    app.sql("UPDATE invitations SET used_at = created_at").await;
    let expired = app
        .gql(
            &key,
            r#"mutation { create_invitation(input: {role: USER}) { invitation { id } } }"#,
        )
        .await;
    assert!(expired["errors"].is_null(), "{expired}");
    assert_eq!(sweep(&app, None).await.total(), 0, "nothing is old yet");
    let old_failures = table_count(&app, "sign_in_failures").await as usize;

    app.clock.advance(time::Duration::days(31));
    // (No successful sign-in from here: it clears failures and timed-out sessions itself.)
    Browser::new(&app)
        .sign_in_with("ada@example.com", "wrong again")
        .await;
    let pending = app
        .gql(
            &key,
            r#"mutation { create_invitation(input: {role: USER}) { invitation { id } } }"#,
        )
        .await;
    assert!(pending["errors"].is_null(), "{pending}");
    let (sessions, failures, invitations, audit, keys) = (
        table_count(&app, "sessions").await,
        table_count(&app, "sign_in_failures").await,
        table_count(&app, "invitations").await,
        table_count(&app, "audit_events").await,
        table_count(&app, "api_keys").await,
    );
    assert_eq!((sessions, invitations), (1, 3));
    assert!(
        failures as usize > old_failures,
        "the fresh failure is stored"
    );

    let swept = sweep(&app, None).await;
    assert_eq!(
        (
            swept.sessions,
            swept.sign_in_failures,
            swept.invitations,
            swept.audit_events
        ),
        (1, old_failures, 2, 0)
    );
    assert_eq!(table_count(&app, "sessions").await, 0);
    assert_eq!(
        table_count(&app, "sign_in_failures").await,
        failures - old_failures as i64
    );
    assert_eq!(table_count(&app, "invitations").await, 1);
    assert_eq!(
        table_count(&app, "audit_events").await,
        audit,
        "the audit log is kept"
    );
    assert_eq!(table_count(&app, "api_keys").await, keys);
    let signed_out = old.get("/user/api-keys").await;
    assert_eq!(signed_out.status(), 303, "the expired session is gone");
    assert_eq!(
        sweep(&app, None).await.total(),
        0,
        "a second run finds nothing"
    );

    // With a retention of 30 days, only the events of 31 days ago go.
    let swept = sweep(&app, Some(30)).await;
    assert!(swept.audit_events > 0);
    assert_eq!(
        table_count(&app, "audit_events").await,
        audit - swept.audit_events as i64
    );
    assert!(
        table_count(&app, "audit_events").await >= 1,
        "the fresh invitation's event stays"
    );
}
