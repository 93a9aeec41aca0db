//! Per-key IP allow-lists through GraphQL: set at creation or later, IPv4 and IPv6,
//! with and without a trusted proxy; refused at authentication with UNAUTHENTICATED
//! naming the address, and audited at most once a minute per key.

use crate::backend_tests;
use crate::support::{Backend, TestApp};
use diesel::prelude::*;
use keyward::db::schema::audit_events;
use keyward::domain::Role;
use serde_json::{json, Value};

const CREATE: &str =
    "mutation($input: create_api_key_input!) { create_api_key(input: $input) { id key } }";
const SET: &str = "mutation($input: set_api_key_allowed_ips_input!) { set_api_key_allowed_ips(input: $input) { id allowed_ips } }";
const AUTH_INFO: &str = "{ auth_info { api_key_id } }";

struct Fixture {
    app: TestApp,
    tenant_id: String,
    person_id: String,
    key: String,
}

async fn fixture(backend: Backend, behind_proxy: bool) -> Fixture {
    let app = TestApp::spawn_with(backend, |s| {
        if behind_proxy {
            s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        }
    })
    .await;
    let tenant = app.create_tenant("acme").await;
    let person = app
        .create_person("ada@example.com", &tenant.id, Role::Admin)
        .await;
    let (_, key) = app.create_key(&person.id, &tenant.id, None).await;
    Fixture {
        app,
        tenant_id: tenant.id,
        person_id: person.id,
        key,
    }
}

impl Fixture {
    /// A new key of the person's, allowed from `ranges`: (id, secret).
    async fn key_allowed_from(&self, ranges: &[&str]) -> (String, String) {
        let answer = self
            .app
            .graphql(
                Some(&self.key),
                CREATE,
                json!({ "input": { "user_id": self.person_id, "name": format!("limited {}", uuid::Uuid::new_v4().simple()), "allowed_ips": ranges } }),
                &[],
            )
            .await;
        let created = &answer["data"]["create_api_key"];
        (
            created["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{answer}"))
                .to_string(),
            created["key"].as_str().unwrap().to_string(),
        )
    }

    /// `auth_info` with `key`, sent as if from `from` (an `X-Forwarded-For` entry).
    async fn auth_info(&self, key: &str, from: Option<&str>) -> Value {
        let headers: Vec<(&str, &str)> =
            from.map(|ip| ("X-Forwarded-For", ip)).into_iter().collect();
        self.app
            .graphql(Some(key), AUTH_INFO, json!({}), &headers)
            .await
    }

    async fn audit_count(&self, action: &'static str, key_id: &str) -> i64 {
        let key_id = key_id.to_string();
        self.app
            .run(move |conn, _| {
                Ok(audit_events::table
                    .filter(audit_events::action.eq(action))
                    .filter(audit_events::target_id.eq(key_id))
                    .count()
                    .get_result(conn)?)
            })
            .await
            .unwrap()
    }
}

fn assert_refused_naming(answer: &Value, ip: &str) {
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{answer}"
    );
    let message = answer["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("may not be used from {ip}")),
        "{message}"
    );
}

async fn a_key_is_refused_outside_its_ranges_and_the_forwarded_address_is_not_believed_without_a_proxy(
    backend: Backend,
) {
    let f = fixture(backend, false).await;
    let (_, local) = f.key_allowed_from(&["127.0.0.0/8"]).await;
    let answer = f.auth_info(&local, None).await;
    assert!(
        answer["data"]["auth_info"]["api_key_id"].is_string(),
        "{answer}"
    );

    let (id, elsewhere) = f
        .key_allowed_from(&["203.0.113.0/24", "2001:db8::/32"])
        .await;
    let refusals = || {
        let text = keyward::telemetry::metrics::render(&f.app.state.db.pool, None);
        super::metrics::sample(
            &text,
            "keyward_auth_failures_total",
            &[("reason", "ip_not_allowed")],
        )
    };
    let refusals_before = refusals();
    assert_refused_naming(&f.auth_info(&elsewhere, None).await, "127.0.0.1");
    // Without a trusted proxy, X-Forwarded-For is the client's own say-so.
    assert_refused_naming(
        &f.auth_info(&elsewhere, Some("203.0.113.5")).await,
        "127.0.0.1",
    );
    let res = f.app.get_with_key("/api/whoami", &elsewhere).await;
    assert_eq!(res.status(), 401);
    assert!(res.text().await.unwrap().contains("127.0.0.1"));

    assert!(
        refusals() - refusals_before >= 3.0,
        "counted in the metrics"
    );
    // Three refusals within the minute: one audit event.
    assert_eq!(f.audit_count("api_key.refused_ip", &id).await, 1);

    let listed = f
        .app
        .graphql(
            Some(&f.key),
            "{ auth_api_key { id allowed_ips } }",
            json!({}),
            &[],
        )
        .await;
    let row = listed["data"]["auth_api_key"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(
        row["allowed_ips"],
        json!(["203.0.113.0/24", "2001:db8::/32"])
    );
}

async fn behind_a_trusted_proxy_the_forwarded_address_decides_for_ipv4_and_ipv6(backend: Backend) {
    let f = fixture(backend, true).await;
    let (_, key) = f
        .key_allowed_from(&["203.0.113.0/24", "2001:db8::/32"])
        .await;
    for inside in ["203.0.113.5", "2001:db8::7", "[2001:db8:0:1::9]:443"] {
        let answer = f.auth_info(&key, Some(inside)).await;
        assert!(
            answer["data"]["auth_info"]["api_key_id"].is_string(),
            "{inside}: {answer}"
        );
    }
    assert_refused_naming(
        &f.auth_info(&key, Some("198.51.100.1")).await,
        "198.51.100.1",
    );
    assert_refused_naming(&f.auth_info(&key, Some("2001:db9::1")).await, "2001:db9::1");
    // The loopback proxy itself is not in the list.
    assert_refused_naming(&f.auth_info(&key, None).await, "127.0.0.1");
}

async fn whoever_may_revoke_a_key_sets_its_list_and_nobody_else_learns_it_exists(backend: Backend) {
    let f = fixture(backend, false).await;
    let (id, key) = f.key_allowed_from(&[]).await;
    assert!(f.auth_info(&key, None).await["data"]["auth_info"].is_object());

    let set = |ranges: Value| json!({ "input": { "key_id": id, "allowed_ips": ranges } });
    let answer = f
        .app
        .graphql(Some(&f.key), SET, set(json!(["192.0.2.0/24"])), &[])
        .await;
    assert_eq!(
        answer["data"]["set_api_key_allowed_ips"]["allowed_ips"],
        json!(["192.0.2.0/24"]),
        "{answer}"
    );
    assert_refused_naming(&f.auth_info(&key, None).await, "127.0.0.1");
    assert_eq!(f.audit_count("api_key.allowed_ips_changed", &id).await, 1);

    let answer = f
        .app
        .graphql(Some(&f.key), SET, set(json!(["10.0.0.0/33"])), &[])
        .await;
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{answer}"
    );
    assert!(answer["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("is not an IPv4 or IPv6 address"));

    // Another member of the tenant may not revoke the key, so may not touch its list.
    let tenant = f.tenant_id.clone();
    let other = f
        .app
        .create_person("bob@example.com", &tenant, Role::User)
        .await;
    let (_, other_key) = f.app.create_key(&other.id, &tenant, None).await;
    let answer = f
        .app
        .graphql(Some(&other_key), SET, set(json!([])), &[])
        .await;
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{answer}"
    );
    assert_refused_naming(&f.auth_info(&key, None).await, "127.0.0.1");

    // An empty list: anywhere again.
    let answer = f.app.graphql(Some(&f.key), SET, set(json!([])), &[]).await;
    assert_eq!(
        answer["data"]["set_api_key_allowed_ips"]["allowed_ips"],
        json!([]),
        "{answer}"
    );
    assert!(f.auth_info(&key, None).await["data"]["auth_info"].is_object());
}

async fn the_dashboard_creates_a_key_with_an_allow_list_and_shows_it_on_the_row(backend: Backend) {
    use crate::support::browser::Browser;
    let f = fixture(backend, false).await;
    let browser = Browser::new(&f.app);
    browser.sign_in("ada@example.com").await;
    let tenant = f.tenant_id.clone();

    let (csrf, nonce) = browser.open_create_form().await;
    let form = |nonce: &str, ips: &str| {
        vec![
            ("csrf_token", csrf.clone()),
            ("nonce", nonce.to_string()),
            ("name", "office".to_string()),
            ("expiration", "30".to_string()),
            ("tenant_id", tenant.clone()),
            ("allowed_ips", ips.to_string()),
        ]
    };
    let send = |fields: Vec<(&'static str, String)>| {
        let browser = &browser;
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            browser.post("/user/api-keys", &fields).await
        }
    };
    let res = send(form(&nonce, "203.0.113.0/24, junk")).await;
    assert!(res.status().is_client_error(), "{}", res.status());
    let html = res.text().await.unwrap();
    assert!(html.contains("data-field-error=\"allowed_ips\""), "{html}");
    assert!(html.contains("is not an IPv4 or IPv6 address"), "{html}");

    let res = send(form(&nonce, "203.0.113.0/24 2001:db8::/32")).await;
    let html = res.text().await.unwrap();
    let start = html
        .find("kwu_")
        .unwrap_or_else(|| panic!("no new key in {html}"));
    let secret: String = html[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    assert_refused_naming(&f.auth_info(&secret, None).await, "127.0.0.1");

    let list = browser.get("/user/api-keys").await.text().await.unwrap();
    assert!(list.contains("Allowed from"), "{list}");
    assert!(list.contains("203.0.113.0/24, 2001:db8::/32"), "{list}");
    assert!(
        list.contains(">Anywhere<"),
        "the unrestricted key says so: {list}"
    );
}

backend_tests!(
    a_key_is_refused_outside_its_ranges_and_the_forwarded_address_is_not_believed_without_a_proxy,
    behind_a_trusted_proxy_the_forwarded_address_decides_for_ipv4_and_ipv6,
    whoever_may_revoke_a_key_sets_its_list_and_nobody_else_learns_it_exists,
    the_dashboard_creates_a_key_with_an_allow_list_and_shows_it_on_the_row
);
