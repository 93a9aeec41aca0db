//! Key lifecycle (issue 14): rotation with overlap against an injected clock, read-only
//! keys refused on every mutation, a service account's role chosen at creation, unique
//! names, revoking a key with everything made through it, and expiry warnings. The tenant
//! key policy on every surface is in `lifecycle_policy`.

use crate::backend_tests;
use crate::support::{Backend, TestApp, PASSWORD};
use diesel::prelude::*;
use keyward::domain::clock::parse_rfc3339_utc;
use keyward::domain::{AccountId, ApiKeyId, Role, TenantId};
use keyward::services::{self, Actor};
use serde_json::{json, Value};
use time::Duration;

backend_tests!(
    a_rotated_key_works_until_one_second_before_the_overlap_ends_and_is_refused_at_that_instant,
    rotation_without_overlap_refuses_the_old_key_at_once_and_links_both_audit_events,
    a_read_only_key_answers_queries_and_is_refused_on_every_mutation,
    a_service_account_created_as_user_cannot_create_service_accounts,
    key_and_service_account_names_are_unique_and_a_rotated_key_hands_its_name_on,
    revoking_with_descendants_removes_the_whole_chain_and_audits_each_key,
    expiring_keys_are_listed_and_flagged,
);

const ROTATE: &str = "mutation($i: rotate_api_key_input!) { rotate_api_key(input: $i) { id key token old_key_id old_key_expires_at } }";
const CREATE_KEY: &str =
    "mutation($i: create_api_key_input!) { create_api_key(input: $i) { id key } }";
const CREATE_SA: &str =
    "mutation($i: create_service_account_input!) { create_service_account(input: $i) { id name } }";
const DELETE_KEY: &str =
    "mutation($i: delete_api_key_input!) { delete_api_key(input: $i) { success } }";

struct Admin {
    app: TestApp,
    tenant: String,
    admin: String,
    key_id: String,
    key: String,
}

async fn admin(backend: Backend) -> Admin {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("acme").await.id;
    let admin = app
        .create_person("admin@example.com", &tenant, Role::Admin)
        .await
        .id;
    let (key_id, key) = app.create_key(&admin, &tenant, None).await;
    Admin {
        app,
        tenant,
        admin,
        key_id,
        key,
    }
}

async fn gql(app: &TestApp, key: &str, query: &str, input: Value) -> Value {
    app.graphql(Some(key), query, json!({ "i": input }), &[])
        .await
}

fn error_code(answer: &Value) -> &str {
    answer["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("an error was expected: {answer}"))
}

fn error_message(answer: &Value) -> String {
    answer["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// (action, target_id) of every audit event, oldest first.
async fn audit(app: &TestApp) -> Vec<(String, String, String)> {
    use keyward::db::schema::audit_events::dsl::*;
    app.run(|conn, _| {
        Ok(audit_events
            .order((at.asc(), id.asc()))
            .select((action, target_id, detail))
            .load::<(String, Option<String>, String)>(conn)?
            .into_iter()
            .map(|(a, t, d)| (a, t.unwrap_or_default(), d))
            .collect())
    })
    .await
    .expect("audit events")
}

/// Moves the server's clock so that it reads just after `at - lead`.
fn set_clock_before(app: &TestApp, at: &Value, lead: Duration) {
    let at = parse_rfc3339_utc(at.as_str().expect("a time")).expect("RFC 3339");
    app.clock.advance(at - lead - app.clock.now());
}

async fn a_rotated_key_works_until_one_second_before_the_overlap_ends_and_is_refused_at_that_instant(
    backend: Backend,
) {
    let a = admin(backend).await;
    let answer = gql(
        &a.app,
        &a.key,
        ROTATE,
        json!({ "key_id": a.key_id, "overlap_hours": 1 }),
    )
    .await;
    let rotated = &answer["data"]["rotate_api_key"];
    let new_key = rotated["key"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", answer));
    assert_eq!(rotated["key"], rotated["token"]);
    assert_eq!(rotated["old_key_id"], a.key_id.as_str());
    let stops_at = parse_rfc3339_utc(rotated["old_key_expires_at"].as_str().unwrap()).unwrap();
    let expected = a.app.clock.now() + Duration::hours(1);
    assert!(
        (expected - stops_at).abs() < Duration::seconds(5),
        "{stops_at} vs {expected}"
    );
    assert_eq!(a.app.whoami_status(&a.key).await, 200);
    assert_eq!(a.app.whoami_status(new_key).await, 200);

    // The list shows the old key as rotating, with its successor.
    let list = a
        .app
        .graphql(
            Some(new_key),
            "{ auth_api_key { id name rotated_to_key_id expires_at } }",
            Value::Null,
            &[],
        )
        .await;
    let keys = list["data"]["auth_api_key"].as_array().unwrap();
    let old = keys.iter().find(|k| k["id"] == a.key_id.as_str()).unwrap();
    assert_eq!(old["rotated_to_key_id"], rotated["id"]);
    assert_eq!(old["expires_at"], rotated["old_key_expires_at"]);
    let new = keys.iter().find(|k| k["id"] == rotated["id"]).unwrap();
    assert_eq!(new["name"], old["name"], "the new key keeps the name");

    // One second before the end of the overlap the old key still works…
    set_clock_before(&a.app, &rotated["old_key_expires_at"], Duration::seconds(1));
    assert_eq!(a.app.whoami_status(&a.key).await, 200);
    // …and from that instant on it is refused as expired.
    a.app.clock.advance(Duration::seconds(1));
    let refused = a.app.get_with_key("/api/whoami", &a.key).await;
    assert_eq!(refused.status(), 401);
    assert!(refused.text().await.unwrap().contains("expired"));
    assert_eq!(a.app.whoami_status(new_key).await, 200);
}

async fn rotation_without_overlap_refuses_the_old_key_at_once_and_links_both_audit_events(
    backend: Backend,
) {
    let a = admin(backend).await;
    // A 30-day key rotates to a fresh 30-day key.
    let created = gql(
        &a.app,
        &a.key,
        CREATE_KEY,
        json!({ "user_id": a.admin, "name": "ci", "expires_at": "2099-01-01T00:00:00Z" }),
    )
    .await;
    let ci = &created["data"]["create_api_key"];
    let ci_key = ci["key"].as_str().unwrap_or_else(|| panic!("{}", created));
    for hours in [2, 48, -1] {
        let bad = gql(
            &a.app,
            ci_key,
            ROTATE,
            json!({ "key_id": ci["id"], "overlap_hours": hours }),
        )
        .await;
        assert_eq!(error_code(&bad), "BAD_USER_INPUT", "{bad}");
        assert!(error_message(&bad).contains("0 (none), 1, 24 or 168"));
    }
    let answer = gql(
        &a.app,
        ci_key,
        ROTATE,
        json!({ "key_id": ci["id"], "overlap_hours": 0 }),
    )
    .await;
    let rotated = &answer["data"]["rotate_api_key"];
    let new_key = rotated["key"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", answer));
    assert_eq!(a.app.whoami_status(ci_key).await, 401, "refused at once");
    assert_eq!(a.app.whoami_status(new_key).await, 200);

    // Rotating the old key again is refused; so is rotating a key one may not revoke.
    let again = gql(
        &a.app,
        new_key,
        ROTATE,
        json!({ "key_id": ci["id"], "overlap_hours": 0 }),
    )
    .await;
    assert!(again["errors"].is_array(), "{again}");
    let user = a
        .app
        .create_person("user@example.com", &a.tenant, Role::User)
        .await;
    let (_, user_key) = a.app.create_key(&user.id, &a.tenant, None).await;
    let foreign = gql(
        &a.app,
        &user_key,
        ROTATE,
        json!({ "key_id": rotated["id"], "overlap_hours": 0 }),
    )
    .await;
    assert_eq!(error_code(&foreign), "NOT_FOUND", "{foreign}");

    // Both events are in the audit log, each naming the other key.
    let events = audit(&a.app).await;
    let new_id = rotated["id"].as_str().unwrap();
    let old_id = ci["id"].as_str().unwrap();
    let rotation = events
        .iter()
        .find(|(action, target, _)| action == "api_key.rotated" && target == old_id)
        .expect("api_key.rotated");
    assert!(rotation.2.contains(new_id), "{rotation:?}");
    let creation = events
        .iter()
        .find(|(action, target, _)| action == "api_key.created" && target == new_id)
        .expect("api_key.created of the new key");
    assert!(creation.2.contains(old_id), "{creation:?}");

    // The new key lives as long as the old one was meant to (created to 2099).
    let listed = a
        .app
        .graphql(
            Some(new_key),
            "{ auth_api_key { id expires_at } }",
            Value::Null,
            &[],
        )
        .await;
    let new_row = listed["data"]["auth_api_key"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == new_id)
        .cloned()
        .unwrap();
    assert!(
        new_row["expires_at"].as_str().unwrap() >= "2098",
        "{new_row}"
    );
}

/// A valid input for every mutation of the schema, as an admin's ordinary key would
/// send it. A mutation missing here fails the test, so a new one cannot skip the check.
fn every_mutation(ids: &Ids) -> Vec<(&'static str, String, Value)> {
    let m = |name: &str, input_type: &str, fields: &str| {
        format!("mutation($i: {input_type}!) {{ {name}(input: $i) {{ {fields} }} }}")
    };
    vec![
        (
            "change_password",
            m("change_password", "change_password_input", "success"),
            json!({ "current_password": PASSWORD, "new_password": "another long password" }),
        ),
        (
            "create_api_key",
            m("create_api_key", "create_api_key_input", "id"),
            json!({ "user_id": ids.admin, "name": "more" }),
        ),
        (
            "delete_api_key",
            m("delete_api_key", "delete_api_key_input", "success"),
            json!({ "key_id": ids.other_key }),
        ),
        (
            "rotate_api_key",
            m("rotate_api_key", "rotate_api_key_input", "id"),
            json!({ "key_id": ids.other_key, "overlap_hours": 0 }),
        ),
        (
            "create_service_account",
            m(
                "create_service_account",
                "create_service_account_input",
                "id",
            ),
            json!({ "name": "robot" }),
        ),
        (
            "rename_service_account",
            m(
                "rename_service_account",
                "rename_service_account_input",
                "id",
            ),
            json!({ "id": ids.sa, "name": "renamed" }),
        ),
        (
            "remove_service_account",
            m(
                "remove_service_account",
                "remove_service_account_input",
                "success",
            ),
            json!({ "id": ids.sa }),
        ),
        (
            "create_invitation",
            m("create_invitation", "create_invitation_input", "token"),
            json!({ "role": "USER" }),
        ),
        (
            "revoke_invitation",
            m("revoke_invitation", "revoke_invitation_input", "success"),
            json!({ "id": ids.invitation }),
        ),
        (
            "change_member_role",
            m("change_member_role", "change_member_role_input", "role"),
            json!({ "user_id": ids.user, "role": "ADMIN" }),
        ),
        (
            "remove_member",
            m("remove_member", "remove_member_input", "success"),
            json!({ "user_id": ids.user }),
        ),
        (
            "set_tenant_key_policy",
            m(
                "set_tenant_key_policy",
                "set_tenant_key_policy_input",
                "require_expiry",
            ),
            json!({ "max_key_lifetime_days": 30 }),
        ),
        (
            "set_tenant_two_factor_required",
            m(
                "set_tenant_two_factor_required",
                "set_tenant_two_factor_required_input",
                "required",
            ),
            json!({ "required": true }),
        ),
        (
            "set_tenant_sso_required",
            m(
                "set_tenant_sso_required",
                "set_tenant_sso_required_input",
                "required",
            ),
            json!({ "required": true }),
        ),
        // A Prefect agent's registration and polls write (the agent, its last seen).
        (
            "register_agent",
            m("register_agent", "register_agent_input", "id"),
            json!({ "name": "agent", "type": "LocalAgent" }),
        ),
        (
            "get_runs_in_queue",
            m(
                "get_runs_in_queue",
                "get_runs_in_queue_input",
                "flow_run_ids",
            ),
            json!({}),
        ),
        (
            "set_api_key_allowed_ips",
            m(
                "set_api_key_allowed_ips",
                "set_api_key_allowed_ips_input",
                "id",
            ),
            json!({ "key_id": ids.other_key, "allowed_ips": ["203.0.113.0/24"] }),
        ),
        (
            "set_notification",
            m("set_notification", "set_notification_input", "kind"),
            json!({ "kind": "KEY_CREATED", "enabled": true }),
        ),
        (
            "create_webhook",
            m("create_webhook", "create_webhook_input", "secret"),
            json!({ "url": "https://hooks.example.com/other", "events": ["member.added"] }),
        ),
        (
            "update_webhook",
            m("update_webhook", "update_webhook_input", "id"),
            json!({ "id": ids.webhook, "enabled": false }),
        ),
        (
            "rotate_webhook_secret",
            m("rotate_webhook_secret", "webhook_id_input", "secret"),
            json!({ "id": ids.webhook }),
        ),
        (
            "redeliver_webhook",
            m("redeliver_webhook", "redeliver_webhook_input", "success"),
            json!({ "delivery_id": ids.delivery }),
        ),
        (
            "delete_webhook",
            m("delete_webhook", "webhook_id_input", "success"),
            json!({ "id": ids.webhook }),
        ),
    ]
}

struct Ids {
    admin: String,
    user: String,
    sa: String,
    other_key: String,
    invitation: String,
    webhook: String,
    delivery: String,
}

async fn a_read_only_key_answers_queries_and_is_refused_on_every_mutation(backend: Backend) {
    let a = admin(backend).await;
    let created = gql(
        &a.app,
        &a.key,
        CREATE_KEY,
        json!({ "user_id": a.admin, "name": "dashboards", "read_only": true }),
    )
    .await;
    let ro = created["data"]["create_api_key"]["key"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", created))
        .to_string();
    let user = a
        .app
        .create_person("user@example.com", &a.tenant, Role::User)
        .await;
    let sa = a.app.create_service_account(&a.tenant, "deployer").await;
    let (other_key, _) = a.app.create_key(&a.admin, &a.tenant, None).await;
    let invitation = a
        .app
        .create_invitation(&a.admin, &a.tenant, Role::User)
        .await
        .invitation
        .id;
    // A webhook, and one delivery of it (the key made next is its event).
    let hook = gql(
        &a.app,
        &a.key,
        "mutation($i: create_webhook_input!) { create_webhook(input: $i) { webhook { id } } }",
        json!({ "url": "https://hooks.example.com/keyward", "events": ["api_key.created"] }),
    )
    .await;
    let webhook = hook["data"]["create_webhook"]["webhook"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{hook}"))
        .to_string();
    a.app.create_key(&a.admin, &a.tenant, None).await;
    let hooks = gql(
        &a.app,
        &a.key,
        "{ webhooks { deliveries { id } } }",
        Value::Null,
    )
    .await;
    let delivery = hooks["data"]["webhooks"][0]["deliveries"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{hooks}"))
        .to_string();
    let ids = Ids {
        admin: a.admin.clone(),
        user: user.id.clone(),
        sa: sa.id.clone(),
        other_key,
        invitation,
        webhook,
        delivery,
    };

    // Queries answer as for the owner, and say the key is read-only.
    let info = a
        .app
        .graphql(
            Some(&ro),
            "{ auth_info { role read_only } auth_api_key { id read_only } service_accounts { id } }",
            Value::Null,
            &[],
        )
        .await;
    assert!(info["errors"].is_null(), "{info}");
    assert_eq!(info["data"]["auth_info"]["read_only"], true);
    assert_eq!(info["data"]["auth_info"]["role"], "ADMIN");
    assert_eq!(info["data"]["service_accounts"][0]["id"], sa.id.as_str());
    let whoami: Value = a
        .app
        .get_with_key("/api/whoami", &ro)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(whoami["read_only"], true);
    let plain: Value = a
        .app
        .get_with_key("/api/whoami", &a.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(plain["read_only"], false);

    // Every mutation of the schema is covered below.
    let schema = a
        .app
        .graphql(
            None,
            "{ __schema { mutationType { fields { name } } } }",
            Value::Null,
            &[],
        )
        .await;
    let mut live: Vec<String> = schema["data"]["__schema"]["mutationType"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    let cases = every_mutation(&ids);
    let mut covered: Vec<String> = cases.iter().map(|(n, _, _)| n.to_string()).collect();
    live.sort();
    covered.sort();
    assert_eq!(covered, live, "every mutation needs a read-only case");

    let audit_before = audit(&a.app).await.len();
    for (name, query, input) in &cases {
        let answer = gql(&a.app, &ro, query, input.clone()).await;
        assert_eq!(error_code(&answer), "FORBIDDEN", "{name}: {answer}");
        assert!(
            error_message(&answer).contains("read-only"),
            "{name}: {answer}"
        );
    }
    assert_eq!(audit(&a.app).await.len(), audit_before, "nothing changed");
    // The same mutations pass the permission check with the admin's ordinary key (here
    // only one that changes little, as proof the inputs are valid).
    let ok = gql(&a.app, &a.key, &cases[4].1, cases[4].2.clone()).await;
    assert!(ok["errors"].is_null(), "{ok}");
}

async fn a_service_account_created_as_user_cannot_create_service_accounts(backend: Backend) {
    let a = admin(backend).await;
    let created = gql(
        &a.app,
        &a.key,
        CREATE_SA,
        json!({ "name": "limited", "role": "USER" }),
    )
    .await;
    let sa = created["data"]["create_service_account"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", created))
        .to_string();
    let default = gql(&a.app, &a.key, CREATE_SA, json!({ "name": "powerful" })).await;
    let admin_sa = default["data"]["create_service_account"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let key = gql(
        &a.app,
        &a.key,
        CREATE_KEY,
        json!({ "user_id": sa, "name": "k" }),
    )
    .await;
    let sa_key = key["data"]["create_api_key"]["key"].as_str().unwrap();
    let info = a
        .app
        .graphql(Some(sa_key), "{ auth_info { role } }", Value::Null, &[])
        .await;
    assert_eq!(info["data"]["auth_info"]["role"], "USER");
    // Its role is seen on the service account too, beside the default ADMIN one's.
    let listed = gql(
        &a.app,
        &a.key,
        "{ service_accounts { id role } }",
        Value::Null,
    )
    .await;
    let role_of = |id: &str| {
        listed["data"]["service_accounts"]
            .as_array()
            .unwrap_or_else(|| panic!("{listed}"))
            .iter()
            .find(|s| s["id"] == id)
            .map(|s| s["role"].clone())
    };
    assert_eq!(role_of(&sa), Some(json!("USER")), "{listed}");
    assert_eq!(role_of(&admin_sa), Some(json!("ADMIN")), "{listed}");
    let refused = gql(&a.app, sa_key, CREATE_SA, json!({ "name": "escalated" })).await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");
    assert!(error_message(&refused).contains("Admin role"), "{refused}");
    // The default stays ADMIN, as the seed documents.
    let admin_key = gql(
        &a.app,
        &a.key,
        CREATE_KEY,
        json!({ "user_id": admin_sa, "name": "k" }),
    )
    .await;
    let admin_sa_key = admin_key["data"]["create_api_key"]["key"].as_str().unwrap();
    let allowed = gql(&a.app, admin_sa_key, CREATE_SA, json!({ "name": "child" })).await;
    assert!(allowed["errors"].is_null(), "{allowed}");
    // The audit line names the role.
    assert!(audit(&a.app)
        .await
        .iter()
        .any(
            |(action, target, detail)| action == "service_account.created"
                && target == &sa
                && detail.contains("USER role")
        ));
}

async fn key_and_service_account_names_are_unique_and_a_rotated_key_hands_its_name_on(
    backend: Backend,
) {
    let a = admin(backend).await;
    let laptop = gql(
        &a.app,
        &a.key,
        CREATE_KEY,
        json!({ "user_id": a.admin, "name": "laptop" }),
    )
    .await;
    let laptop_id = laptop["data"]["create_api_key"]["id"].clone();
    let twice = gql(
        &a.app,
        &a.key,
        CREATE_KEY,
        json!({ "user_id": a.admin, "name": "laptop" }),
    )
    .await;
    assert_eq!(error_code(&twice), "BAD_USER_INPUT", "{twice}");
    assert!(
        error_message(&twice).contains("already has an API key named \"laptop\""),
        "{twice}"
    );
    // Another owner, or another tenant, may use the name.
    let other_tenant = a.app.create_tenant("other").await.id;
    a.app.add_member(&a.admin, &other_tenant, Role::User).await;
    let (admin, tenant) = (a.admin.clone(), other_tenant.clone());
    let elsewhere = a
        .app
        .run(move |conn, now| {
            services::api_keys::create_api_key(
                conn,
                &Actor::person(admin.clone(), None),
                now,
                services::api_keys::NewApiKey {
                    account_id: AccountId::from_stored(admin),
                    tenant_id: Some(TenantId::from_stored(tenant)),
                    name: keyward::domain::KeyName::parse("laptop")?,
                    expires_at: None,
                    read_only: false,
                    allowed_ips: Default::default(),
                    description: Default::default(),
                },
                ApiKeyId::generate(),
                &keyward::domain::Quotas::default(),
            )
        })
        .await;
    assert!(elsewhere.is_ok(), "{elsewhere:?}");
    // After rotation the old key no longer holds the name, but the new one does.
    let rotated = gql(
        &a.app,
        &a.key,
        ROTATE,
        json!({ "key_id": laptop_id, "overlap_hours": 24 }),
    )
    .await;
    assert!(rotated["errors"].is_null(), "{rotated}");
    let still = gql(
        &a.app,
        &a.key,
        CREATE_KEY,
        json!({ "user_id": a.admin, "name": "laptop" }),
    )
    .await;
    assert_eq!(error_code(&still), "BAD_USER_INPUT", "{still}");

    // Service accounts: unique per tenant, on create and on rename.
    let first = gql(&a.app, &a.key, CREATE_SA, json!({ "name": "ci-bot" })).await;
    assert!(first["errors"].is_null(), "{first}");
    let dup = gql(&a.app, &a.key, CREATE_SA, json!({ "name": "ci-bot" })).await;
    assert_eq!(error_code(&dup), "BAD_USER_INPUT", "{dup}");
    assert!(error_message(&dup).contains("already has a service account named \"ci-bot\""));
    let other = gql(&a.app, &a.key, CREATE_SA, json!({ "name": "deployer" })).await;
    let renamed = gql(
        &a.app,
        &a.key,
        "mutation($i: rename_service_account_input!) { rename_service_account(input: $i) { id } }",
        json!({ "id": other["data"]["create_service_account"]["id"], "name": "ci-bot" }),
    )
    .await;
    assert_eq!(error_code(&renamed), "BAD_USER_INPUT", "{renamed}");

    // keyward admin says the same.
    let database_url = a.app.db.url.clone();
    let (code, _, err) = crate::support::run_keyward(
        &[
            "admin",
            "--database-url",
            &database_url,
            "create-service-account",
            "--tenant",
            "acme",
            "--name",
            "ci-bot",
        ],
        "",
    );
    assert_ne!(code, 0);
    assert!(err.contains("already has a service account named"), "{err}");

    // Duplicates an older version let in stay (no unique index), and do not block keys.
    let (tenant, admin) = (a.tenant.clone(), a.admin.clone());
    a.app
        .sql(&format!(
            "INSERT INTO api_keys (id, account_id, tenant_id, name, token_digest, display_hint, created_at) \
             VALUES ('{}', '{admin}', '{tenant}', 'twin', 'd1', 'kwu_…0001', '2025-01-01 00:00:00'), \
                    ('{}', '{admin}', '{tenant}', 'twin', 'd2', 'kwu_…0002', '2025-01-01 00:00:00')",
            uuid::Uuid::new_v4(),
            uuid::Uuid::new_v4()
        ))
        .await;
    let fresh = gql(
        &a.app,
        &a.key,
        CREATE_KEY,
        json!({ "user_id": a.admin, "name": "fresh" }),
    )
    .await;
    assert!(fresh["errors"].is_null(), "{fresh}");
}

async fn revoking_with_descendants_removes_the_whole_chain_and_audits_each_key(backend: Backend) {
    let a = admin(backend).await;
    // The admin's second key (made by an operator) must survive.
    let (_, spare) = a.app.create_key(&a.admin, &a.tenant, None).await;
    // Through the leaked key: a service account and a key for it, and a key of one's own.
    let sa1 = gql(&a.app, &a.key, CREATE_SA, json!({ "name": "minted" })).await;
    let sa1 = sa1["data"]["create_service_account"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let k1 = gql(
        &a.app,
        &a.key,
        CREATE_KEY,
        json!({ "user_id": sa1, "name": "k1" }),
    )
    .await;
    let k1 = k1["data"]["create_api_key"].clone();
    let k2 = gql(
        &a.app,
        &a.key,
        CREATE_KEY,
        json!({ "user_id": a.admin, "name": "k2" }),
    )
    .await;
    let k2 = k2["data"]["create_api_key"].clone();
    // Through the minted service account's key: another service account with a key,
    // which makes a key for itself.
    let k1_key = k1["key"].as_str().unwrap();
    let sa2 = gql(&a.app, k1_key, CREATE_SA, json!({ "name": "second" })).await;
    let sa2 = sa2["data"]["create_service_account"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let k3 = gql(
        &a.app,
        k1_key,
        CREATE_KEY,
        json!({ "user_id": sa2, "name": "k3" }),
    )
    .await;
    let k3 = k3["data"]["create_api_key"].clone();
    let k4 = gql(
        &a.app,
        k3["key"].as_str().unwrap(),
        CREATE_KEY,
        json!({ "user_id": sa2, "name": "k4" }),
    )
    .await;
    let k4 = k4["data"]["create_api_key"].clone();
    let all = [&k1, &k2, &k3, &k4];
    for k in all {
        assert_eq!(a.app.whoami_status(k["key"].as_str().unwrap()).await, 200);
    }

    // The preview counts what goes with it.
    let (root, scope_actor) = (a.key_id.clone(), a.admin.clone());
    let preview = a
        .app
        .run(move |conn, _| {
            services::key_revocation::preview(
                conn,
                &Actor::person(scope_actor, None),
                &ApiKeyId::from_stored(&root),
                None,
            )
        })
        .await
        .unwrap();
    assert_eq!(
        preview.describe().as_deref(),
        Some("1 key and 2 service accounts"),
        "k2, and sa1 and sa2 with their keys"
    );

    let answer = gql(
        &a.app,
        &spare,
        DELETE_KEY,
        json!({ "key_id": a.key_id, "with_descendants": true }),
    )
    .await;
    assert_eq!(
        answer["data"]["delete_api_key"]["success"], true,
        "{answer}"
    );
    assert_eq!(a.app.whoami_status(&a.key).await, 401);
    for k in all {
        assert_eq!(
            a.app.whoami_status(k["key"].as_str().unwrap()).await,
            401,
            "{k}"
        );
    }
    assert_eq!(a.app.whoami_status(&spare).await, 200);
    let left = a
        .app
        .graphql(
            Some(&spare),
            "{ service_accounts { id } }",
            Value::Null,
            &[],
        )
        .await;
    assert_eq!(left["data"]["service_accounts"], json!([]), "{left}");

    // Each key and each service account is in the audit log.
    let events = audit(&a.app).await;
    let revoked = |id: &str| {
        events
            .iter()
            .any(|(action, target, _)| action == "api_key.revoked" && target == id)
    };
    assert!(revoked(&a.key_id));
    for k in all {
        assert!(revoked(k["id"].as_str().unwrap()), "{k} audited");
    }
    for sa in [&sa1, &sa2] {
        assert!(events
            .iter()
            .any(|(action, target, _)| action == "service_account.removed" && target == sa));
    }
}

async fn expiring_keys_are_listed_and_flagged(backend: Backend) {
    let a = admin(backend).await;
    let now = a.app.clock.now();
    let (soon, _) = a
        .app
        .create_key(&a.admin, &a.tenant, Some(now + Duration::days(3)))
        .await;
    let (later, _) = a
        .app
        .create_key(&a.admin, &a.tenant, Some(now + Duration::days(20)))
        .await;
    let answer = a
        .app
        .graphql(
            Some(&a.key),
            "{ week: expiring_api_keys { id name expires_at user_id } month: expiring_api_keys(within_days: 30) { id } \
               auth_api_key { id expiring_soon } }",
            Value::Null,
            &[],
        )
        .await;
    assert!(answer["errors"].is_null(), "{answer}");
    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|k| k["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&answer["data"]["week"]), vec![soon.clone()]);
    assert_eq!(answer["data"]["week"][0]["user_id"], a.admin.as_str());
    assert_eq!(
        ids(&answer["data"]["month"]),
        vec![soon.clone(), later.clone()]
    );
    for k in answer["data"]["auth_api_key"].as_array().unwrap() {
        assert_eq!(k["expiring_soon"], k["id"] == soon.as_str(), "{k}");
    }
    let bad = a
        .app
        .graphql(
            Some(&a.key),
            "{ expiring_api_keys(within_days: 0) { id } }",
            Value::Null,
            &[],
        )
        .await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT");
}
