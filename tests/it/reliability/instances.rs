//! Two `keyward serve` instances on one PostgreSQL database: nothing one instance knows
//! is missing from the other (DESIGN §6, scale-out).

use super::{Caller, Figures};
use crate::support::browser::Browser;
use crate::support::{client, postgres_available, Backend, TestApp};
use keyward::domain::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_agree_at_once_on_keys_sessions_and_roles() {
    if !postgres_available() {
        return;
    }
    let a = TestApp::spawn(Backend::Postgres).await;
    let b = a.another_instance(|_| {});
    let mut figures = Figures::new("two_instances");
    let tenant = a.create_tenant("acme").await;
    let admin = a
        .create_person("ada@example.com", &tenant.id, Role::Admin)
        .await;
    let member = a
        .create_person("bob@example.com", &tenant.id, Role::Admin)
        .await;
    let (_, admin_key) = a.create_key(&admin.id, &tenant.id, None).await;
    let (key_id, key) = a.create_key(&member.id, &tenant.id, None).await;
    let (on_a, on_b) = (
        Caller::new(a.address.clone()),
        Caller::new(b.address.clone()),
    );

    // A key revoked through A is refused by B on the next request.
    assert_eq!(on_b.whoami(&key).await, 200);
    let (_, answer) = on_a
        .gql(
            Some(&key),
            "mutation($input: delete_api_key_input!) { delete_api_key(input: $input) { success } }",
            serde_json::json!({ "input": { "key_id": key_id } }),
        )
        .await
        .unwrap();
    assert_eq!(
        answer["data"]["delete_api_key"]["success"], true,
        "{answer}"
    );
    let refused = on_b.whoami(&key).await;
    figures.requests += 3;
    if refused != 401 {
        figures.unauthorised_successes += 1;
    }
    assert_eq!(refused, 401, "B still accepts a key revoked through A");

    // A session made on A works on B; signing out on A ends it on B.
    let browser = Browser::new(&a);
    let csrf = browser.sign_in(&member.name).await;
    let cookie = browser.cookies();
    let page_on_b = |cookie: String| {
        let url = b.url("/user/api-keys");
        async move {
            client()
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        page_on_b(cookie.clone()).await,
        200,
        "A's session is unknown to B"
    );
    let res = browser.post("/logout", &[("csrf_token", &csrf)]).await;
    assert_eq!(res.status(), 303);
    let after = page_on_b(cookie).await;
    figures.requests += 4;
    if after != 303 {
        figures.unauthorised_successes += 1;
    }
    assert_eq!(after, 303, "B still honours a session signed out on A");

    // A role changed on A applies on B at once: bob's new key loses admin rights.
    let (_, bob_key) = a.create_key(&member.id, &tenant.id, None).await;
    let list_sas = "{ service_accounts { id } }";
    let (_, before) = on_b
        .gql(Some(&bob_key), list_sas, serde_json::json!({}))
        .await
        .unwrap();
    assert!(before["errors"].is_null(), "{before}");
    let (_, changed) = on_a
        .gql(
            Some(&admin_key),
            "mutation($input: change_member_role_input!) { change_member_role(input: $input) { role } }",
            serde_json::json!({ "input": { "user_id": member.id, "role": "USER" } }),
        )
        .await
        .unwrap();
    assert!(changed["errors"].is_null(), "{changed}");
    let (_, after) = on_b
        .gql(Some(&bob_key), list_sas, serde_json::json!({}))
        .await
        .unwrap();
    figures.requests += 3;
    if after["errors"].is_null() {
        figures.unauthorised_successes += 1;
    }
    assert_eq!(super::error_code(&after), Some("FORBIDDEN"), "{after}");
    figures.print();
}
