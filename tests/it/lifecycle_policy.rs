//! A tenant's key policy (issue 14) on every surface: set by admins through GraphQL, the
//! CLI and Team › Settings; new keys beyond it refused through GraphQL, the dashboard and
//! the CLI with a message naming the policy; existing keys listed, not cut.

use crate::backend_tests;
use crate::support::browser::{input_value, Browser};
use crate::support::{keyward_bin, Backend, TestApp};
use keyward::domain::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

backend_tests!(
    new_keys_beyond_the_policy_are_refused_through_graphql_the_dashboard_and_the_cli,
    only_admins_set_the_policy_and_existing_keys_are_listed_not_cut,
);

const SET_POLICY: &str = "mutation($i: set_tenant_key_policy_input!) { set_tenant_key_policy(input: $i) { max_key_lifetime_days require_expiry keys_beyond_policy { id name user_name expires_at } } }";
const CREATE_KEY: &str =
    "mutation($i: create_api_key_input!) { create_api_key(input: $i) { id key } }";

struct Tenant {
    app: TestApp,
    tenant: String,
    admin_key: String,
    user: String,
    user_key: String,
}

async fn tenant(backend: Backend) -> Tenant {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("acme").await.id;
    let admin = app
        .create_person("admin@example.com", &tenant, Role::Admin)
        .await;
    let user = app
        .create_person("user@example.com", &tenant, Role::User)
        .await;
    let (_, admin_key) = app.create_key(&admin.id, &tenant, None).await;
    let (_, user_key) = app.create_key(&user.id, &tenant, None).await;
    Tenant {
        app,
        tenant,
        admin_key,
        user: user.id,
        user_key,
    }
}

async fn set_policy(t: &Tenant, key: &str, input: Value) -> Value {
    t.app
        .graphql(Some(key), SET_POLICY, json!({ "i": input }), &[])
        .await
}

fn in_days(days: i64) -> String {
    keyward::domain::clock::rfc3339(
        time::OffsetDateTime::now_utc().date().midnight() + time::Duration::days(days),
    )
}

async fn new_keys_beyond_the_policy_are_refused_through_graphql_the_dashboard_and_the_cli(
    backend: Backend,
) {
    let t = tenant(backend).await;
    let set = set_policy(&t, &t.admin_key, json!({ "max_key_lifetime_days": 30 })).await;
    assert!(set["errors"].is_null(), "{set}");
    assert_eq!(set["data"]["set_tenant_key_policy"]["require_expiry"], true);

    // GraphQL: no expiry, or one beyond 30 days, is refused with the policy named.
    for expires_at in [Value::Null, Value::String(in_days(60))] {
        let refused = t
            .app
            .graphql(
                Some(&t.user_key),
                CREATE_KEY,
                json!({ "i": { "user_id": t.user, "name": "long", "expires_at": expires_at } }),
                &[],
            )
            .await;
        assert_eq!(
            refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{refused}"
        );
        let message = refused["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.contains("key policy") && message.contains("30 days"),
            "{message}"
        );
    }
    let allowed = t
        .app
        .graphql(
            Some(&t.user_key),
            CREATE_KEY,
            json!({ "i": { "user_id": t.user, "name": "short", "expires_at": in_days(10) } }),
            &[],
        )
        .await;
    assert!(allowed["errors"].is_null(), "{allowed}");

    // The dashboard: the dialog offers only allowed choices, and an edited form is
    // refused beside the field.
    let b = Browser::new(&t.app);
    b.sign_in("user@example.com").await;
    let dialog = b.get("/user/api-keys/new").await.text().await.unwrap();
    assert!(!dialog.contains("value=\"never\""), "no Never: {dialog}");
    assert!(!dialog.contains("value=\"90\""), "no 90 days");
    assert!(dialog.contains("value=\"30\""));
    assert!(
        dialog.contains("keys must expire within 30 days"),
        "{dialog}"
    );
    let (csrf, nonce) = (
        input_value(&dialog, "csrf_token").unwrap(),
        input_value(&dialog, "nonce").unwrap(),
    );
    for expiration in ["never", "90"] {
        let res = b
            .post(
                "/user/api-keys",
                &[
                    ("csrf_token", &csrf),
                    ("nonce", &nonce),
                    ("name", "dash"),
                    ("expiration", expiration),
                    ("tenant_id", &t.tenant),
                ],
            )
            .await;
        assert_eq!(
            res.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{expiration}"
        );
        let html = res.text().await.unwrap();
        assert!(html.contains("data-field-error=\"expires_at\""), "{html}");
        assert!(html.contains("key policy"), "{html}");
    }
    let ok = b
        .post(
            "/user/api-keys",
            &[
                ("csrf_token", &csrf),
                ("nonce", &nonce),
                ("name", "dash"),
                ("expiration", "7"),
                ("tenant_id", &t.tenant),
            ],
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);

    // The CLI client.
    let url = t.app.address.clone();
    let user_key = t.user_key.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(keyward_bin())
            .args([
                "keys", "create", "--name", "cli", "--url", &url, "--key", &user_key,
            ])
            .env_remove("KEYWARD_API_KEY")
            .env_remove("KEYWARD_URL")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("key policy") && err.contains("30 days"),
        "{err}"
    );
}

async fn only_admins_set_the_policy_and_existing_keys_are_listed_not_cut(backend: Backend) {
    let t = tenant(backend).await;
    let refused = set_policy(&t, &t.user_key, json!({ "require_expiry": true })).await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "FORBIDDEN");
    let bad = set_policy(&t, &t.admin_key, json!({ "max_key_lifetime_days": 0 })).await;
    assert_eq!(bad["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");

    let set = set_policy(&t, &t.admin_key, json!({ "require_expiry": true })).await;
    let policy = &set["data"]["set_tenant_key_policy"];
    assert_eq!(policy["max_key_lifetime_days"], Value::Null);
    let beyond = policy["keys_beyond_policy"].as_array().unwrap();
    assert_eq!(beyond.len(), 2, "both keys never expire: {set}");
    // Not cut: both keys still work.
    for key in [&t.admin_key, &t.user_key] {
        assert_eq!(t.app.get_with_key("/api/whoami", key).await.status(), 200);
    }

    // Team › Settings shows and sets it (admins only), and lists the keys beyond it.
    let b = Browser::new(&t.app);
    let csrf = b.sign_in("admin@example.com").await;
    let page = b.get("/t/acme/team/settings").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("id=\"keys-beyond-policy\""), "{html}");
    let saved = b
        .post(
            "/t/acme/team/settings",
            &[("csrf_token", &csrf), ("max_key_lifetime_days", "90")],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let read = t
        .app
        .graphql(
            Some(&t.admin_key),
            "{ tenant_key_policy { max_key_lifetime_days require_expiry } }",
            Value::Null,
            &[],
        )
        .await;
    assert_eq!(
        read["data"]["tenant_key_policy"]["max_key_lifetime_days"],
        90
    );
    let bad_form = b
        .post(
            "/t/acme/team/settings",
            &[("csrf_token", &csrf), ("max_key_lifetime_days", "soon")],
        )
        .await;
    assert_eq!(bad_form.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let user = Browser::new(&t.app);
    user.sign_in("user@example.com").await;
    assert_eq!(user.get("/t/acme/team/settings").await.status(), 403);
}
