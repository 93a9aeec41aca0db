//! Issue 23, what a single request may cost or reach: password guessing per account with
//! device cookies, IPv6 /64s as one address, IP refusals audited whatever the key's scope,
//! allow-lists that only narrow through a key, `with_descendants` under the caller's
//! current role, and bookkeeping that never holds up a valid key.

use crate::backend_tests;
use crate::support::browser::Browser;
use crate::support::{Backend, Seeded, TestApp, PASSWORD};
use keyward::db::models::{Account, ApiKey};
use keyward::domain::{new_id, AccountId, AllowedIps, ApiKeyId, KeyName, Quotas, Role, TenantId};
use keyward::services::{self, Actor};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

backend_tests!(
    thirty_wrong_passwords_from_thirty_addresses_check_at_most_ten_and_the_owners_browser_still_gets_in,
    a_known_browser_is_locked_after_its_own_failures_and_new_clients_are_not,
    eight_addresses_of_one_ipv6_64_count_as_one,
    a_read_only_key_refused_by_its_allow_list_leaves_an_audit_event,
    a_key_cannot_remove_or_widen_its_own_allow_list,
    a_key_made_through_a_narrowed_key_inherits_its_list_and_at_most_its_expiry,
    a_demoted_members_delete_with_descendants_skips_the_service_accounts_and_reports_them,
    a_valid_key_answers_at_once_while_the_main_pool_is_saturated,
    a_device_cookie_from_before_a_password_change_counts_for_nothing,
    a_device_cookie_past_its_lifetime_counts_for_nothing,
    a_sign_up_with_a_bogus_invitation_takes_no_hashing_turn,
    an_allow_list_refusal_is_audited_while_the_main_pool_is_saturated,
);

const ADA: &str = "ada@example.com";

struct World {
    app: TestApp,
    tenant: Seeded,
    ada: Seeded,
}

async fn world(backend: Backend) -> World {
    let app = TestApp::spawn_with(backend, |s| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let tenant = app.create_tenant("acme").await;
    let ada = app.create_person(ADA, &tenant.id, Role::Admin).await;
    World { app, tenant, ada }
}

/// The details of the tenant's audit events with this action, oldest first.
async fn audited(app: &TestApp, tenant_id: &str, action: &str) -> Vec<String> {
    let (tenant_id, action) = (tenant_id.to_string(), action.to_string());
    app.run(move |conn, _| {
        services::audit::list_audit_events(
            conn,
            &Actor::operator(),
            &TenantId::from_stored(&tenant_id),
            Some(&action),
            1,
            500,
        )
    })
    .await
    .unwrap()
    .events
    .into_iter()
    .rev()
    .map(|e| e.event.detail)
    .collect()
}

/// Signs the browser out, keeping its cookies but the session's.
async fn sign_out(browser: &Browser) {
    let csrf = browser.csrf_token().await;
    let res = browser.post("/logout", &[("csrf_token", &csrf)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

async fn thirty_wrong_passwords_from_thirty_addresses_check_at_most_ten_and_the_owners_browser_still_gets_in(
    backend: Backend,
) {
    let w = world(backend).await;
    // Ada's own browser signed in last week: it carries her device cookie.
    let owner = Browser::with_address(&w.app, Some("198.51.100.20"));
    owner.sign_in(ADA).await;
    sign_out(&owner).await;
    assert!(
        owner.cookies().contains("keyward_device="),
        "{}",
        owner.cookies()
    );

    let mut checked = 0;
    for i in 1..=30 {
        let attacker = Browser::with_address(&w.app, Some(&format!("203.0.113.{i}")));
        let res = attacker
            .sign_in_with(ADA, &format!("guess number {i}"))
            .await;
        match res.status() {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("attempt {i}: {other}"),
        }
    }
    assert_eq!(checked, 10, "the first ten are checked, no more");
    // Counted where the checks are: each wrong password verified is one `sign_in.failed`.
    let failed = audited(&w.app, &w.tenant.id, "sign_in.failed").await;
    assert_eq!(failed.len(), 10, "{failed:?}");
    assert!(failed[9].contains("locked for 15 minutes"), "{failed:?}");
    let refused = audited(&w.app, &w.tenant.id, "sign_in.refused").await;
    assert_eq!(
        refused.len(),
        1,
        "twenty refusals, audited once: {refused:?}"
    );

    // The right password from a new client is refused too, without a check.
    let newcomer = Browser::with_address(&w.app, Some("192.0.2.77"));
    let res = newcomer.sign_in_with(ADA, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("from new browsers and devices")
            && page.contains("a browser you signed in with before"),
        "{page}"
    );
    // A cookie that names Ada but was not signed by the server is no device cookie.
    let forger = Browser::with_address(&w.app, Some("192.0.2.78"));
    forger.jar.add_cookie_str(
        &format!("keyward_device=v1.{}.{}", w.ada.id, "a".repeat(32)),
        &w.app.address.parse().unwrap(),
    );
    assert_eq!(
        forger.sign_in_with(ADA, PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Nor is Ada's own cookie with one character of its nonce changed.
    let genuine = owner
        .cookies()
        .split("; ")
        .find_map(|c| c.strip_prefix("keyward_device="))
        .unwrap()
        .to_string();
    let mut tampered = genuine.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'x' { 'y' } else { 'x' });
    let replayer = Browser::with_address(&w.app, Some("192.0.2.79"));
    replayer.jar.add_cookie_str(
        &format!("keyward_device={tampered}"),
        &w.app.address.parse().unwrap(),
    );
    assert_eq!(
        replayer.sign_in_with(ADA, PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "a tampered cookie counts as no cookie"
    );

    // Ada's browser still gets in, from wherever she is.
    let res = owner.sign_in_with(ADA, PASSWORD).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "the owner is not locked out"
    );
    assert_eq!(
        audited(&w.app, &w.tenant.id, "sign_in.failed").await.len(),
        10,
        "nothing more was checked"
    );
    assert_eq!(
        audited(&w.app, &w.tenant.id, "sign_in.refused").await.len(),
        1
    );
}

async fn a_known_browser_is_locked_after_its_own_failures_and_new_clients_are_not(
    backend: Backend,
) {
    let w = world(backend).await;
    let owner = Browser::with_address(&w.app, Some("198.51.100.20"));
    owner.sign_in(ADA).await;
    sign_out(&owner).await;
    for i in 0..services::guess_limits::MAX_DEVICE {
        let res = owner.sign_in_with(ADA, &format!("typo {i}")).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let res = owner.sign_in_with(ADA, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.text().await.unwrap().contains("from this browser"));
    // Its failures were its own: a new client still has the account's allowance.
    let elsewhere = Browser::with_address(&w.app, Some("192.0.2.5"));
    assert_eq!(
        elsewhere.sign_in_with(ADA, PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    w.app.clock.advance(time::Duration::minutes(15));
    assert_eq!(
        owner.sign_in_with(ADA, PASSWORD).await.status(),
        StatusCode::SEE_OTHER,
        "the device's lock lifts"
    );
}

async fn eight_addresses_of_one_ipv6_64_count_as_one(backend: Backend) {
    let w = world(backend).await;
    let mut statuses = Vec::new();
    for i in 1..=8 {
        let client = Browser::with_address(&w.app, Some(&format!("2001:db8:1:2::{i:x}")));
        let res = client.sign_in_with(ADA, "wrong").await;
        statuses.push(res.status().as_u16());
        if i > services::sign_in::MAX_FAILURES {
            assert!(res
                .text()
                .await
                .unwrap()
                .contains("for this email from your address"));
        }
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);
    let rows = w
        .app
        .run(|conn, _| {
            use diesel::prelude::*;
            use keyward::db::schema::sign_in_failures::dsl::*;
            Ok(sign_in_failures.select(ip).load::<String>(conn)?)
        })
        .await
        .unwrap();
    assert!(
        rows.iter().all(|r| r == "2001:db8:1:2::/64"),
        "counted under the /64: {rows:?}"
    );
    // The next /64 is another address (and the account's own count is not reached).
    let next = Browser::with_address(&w.app, Some("2001:db8:1:3::1"));
    assert_eq!(
        next.sign_in_with(ADA, PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
}

/// A key of `account_id` made by an operator, usable only from `allowed`; (id, secret).
async fn key_allowed_from(
    app: &TestApp,
    account_id: &str,
    tenant_id: &str,
    allowed: &[&str],
    read_only: bool,
    expires_in_days: Option<i64>,
) -> (String, String) {
    let (account_id, tenant_id) = (account_id.to_string(), tenant_id.to_string());
    let allowed = AllowedIps::parse(allowed).unwrap();
    let created = app
        .run(move |conn, now| {
            let expires_at = expires_in_days
                .map(|d| keyward::domain::ExpiresAt::parse(now + time::Duration::days(d), now))
                .transpose()?;
            services::api_keys::create_api_key(
                conn,
                &Actor::operator(),
                now,
                services::api_keys::NewApiKey {
                    account_id: AccountId::from_stored(account_id),
                    tenant_id: Some(TenantId::from_stored(tenant_id)),
                    name: KeyName::parse(&format!("listed {}", &new_id()[..8]))?,
                    expires_at,
                    read_only,
                    allowed_ips: allowed,
                    description: Default::default(),
                },
                ApiKeyId::generate(),
                &Quotas::default(),
            )
        })
        .await
        .unwrap();
    (
        created.key.id.clone(),
        created.token.expose_secret().to_string(),
    )
}

async fn stored_key(app: &TestApp, id: &str) -> ApiKey {
    let id = id.to_string();
    app.run(move |conn, _| Ok(ApiKey::find(conn, &id)?))
        .await
        .unwrap()
        .expect("the key")
}

async fn a_read_only_key_refused_by_its_allow_list_leaves_an_audit_event(backend: Backend) {
    let w = world(backend).await;
    let (key_id, key) = key_allowed_from(
        &w.app,
        &w.ada.id,
        &w.tenant.id,
        &["203.0.113.0/24"],
        true,
        None,
    )
    .await;
    let res = w.app.get_with_key("/api/whoami", &key).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.text().await.unwrap().contains("IP allow-list"));
    // Audited before the refusal was answered.
    let events = audited(&w.app, &w.tenant.id, "api_key.refused_ip").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].contains("127.0.0.1"), "{events:?}");
    // Once a minute at most, whatever the scope.
    assert_eq!(
        w.app.get_with_key("/api/whoami", &key).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(stored_key(&w.app, &key_id)
        .await
        .ip_refusal_audited_at
        .is_some());
    assert_eq!(
        audited(&w.app, &w.tenant.id, "api_key.refused_ip")
            .await
            .len(),
        1
    );
}

const SET_ALLOWED_IPS: &str = "mutation($i: set_api_key_allowed_ips_input!) { set_api_key_allowed_ips(input: $i) { id allowed_ips } }";

fn error_code(answer: &Value) -> &str {
    answer["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("none")
}

async fn a_key_cannot_remove_or_widen_its_own_allow_list(backend: Backend) {
    let w = world(backend).await;
    let (key_id, key) = key_allowed_from(
        &w.app,
        &w.ada.id,
        &w.tenant.id,
        &["127.0.0.0/8"],
        false,
        None,
    )
    .await;
    for wider in [
        json!([]),
        json!(["0.0.0.0/0"]),
        json!(["127.0.0.1", "10.0.0.1"]),
    ] {
        let answer = w
            .app
            .graphql(
                Some(&key),
                SET_ALLOWED_IPS,
                json!({ "i": { "key_id": key_id, "allowed_ips": wider } }),
                &[],
            )
            .await;
        assert_eq!(error_code(&answer), "BAD_USER_INPUT", "{wider}: {answer}");
        assert!(
            answer["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("can only be narrowed"),
            "{answer}"
        );
        assert_eq!(
            stored_key(&w.app, &key_id).await.allowed_ips.as_deref(),
            Some("127.0.0.0/8")
        );
    }
    // Narrowing is fine.
    let answer = w
        .app
        .graphql(
            Some(&key),
            SET_ALLOWED_IPS,
            json!({ "i": { "key_id": key_id, "allowed_ips": ["127.0.0.1"] } }),
            &[],
        )
        .await;
    assert_eq!(
        answer["data"]["set_api_key_allowed_ips"]["allowed_ips"],
        json!(["127.0.0.1/32"]),
        "{answer}"
    );
    // Nor can it widen another key it may manage beyond its own list.
    let (other_id, _) = w.app.create_key(&w.ada.id, &w.tenant.id, None).await;
    let answer = w
        .app
        .graphql(
            Some(&key),
            SET_ALLOWED_IPS,
            json!({ "i": { "key_id": other_id, "allowed_ips": ["10.0.0.0/8"] } }),
            &[],
        )
        .await;
    assert_eq!(error_code(&answer), "BAD_USER_INPUT", "{answer}");
    assert_eq!(stored_key(&w.app, &other_id).await.allowed_ips, None);
}

const CREATE_KEY: &str =
    "mutation($i: create_api_key_input!) { create_api_key(input: $i) { id token } }";

/// `create_api_key` through GraphQL with `key`; the whole answer.
async fn create_key_with(app: &TestApp, key: &str, variables: Value) -> Value {
    app.graphql(Some(key), CREATE_KEY, variables, &[]).await
}

/// The new key's id in a `create_api_key` answer.
fn created_id(answer: &Value) -> &str {
    answer["data"]["create_api_key"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"))
}

async fn a_key_made_through_a_narrowed_key_inherits_its_list_and_at_most_its_expiry(
    backend: Backend,
) {
    let w = world(backend).await;
    let (parent_id, parent) = key_allowed_from(
        &w.app,
        &w.ada.id,
        &w.tenant.id,
        &["127.0.0.0/8"],
        false,
        Some(10),
    )
    .await;
    let parent_row = stored_key(&w.app, &parent_id).await;
    let answer = create_key_with(
        &w.app,
        &parent,
        json!({ "i": { "user_id": w.ada.id, "name": "child" } }),
    )
    .await;
    let child_id = created_id(&answer).to_string();
    let child = stored_key(&w.app, &child_id).await;
    assert_eq!(child.allowed_ips.as_deref(), Some("127.0.0.0/8"));
    assert_eq!(
        child.expires_at, parent_row.expires_at,
        "no expiry asked: the parent's"
    );
    // A later expiry than the parent's is cut to it.
    let later = time::OffsetDateTime::now_utc() + time::Duration::days(300);
    let answer = create_key_with(&w.app, &parent, json!({ "i": { "user_id": w.ada.id, "name": "long child",
                "expires_at": later.format(&time::format_description::well_known::Rfc3339).unwrap() } })).await;
    let id = created_id(&answer);
    assert_eq!(
        stored_key(&w.app, id).await.expires_at,
        parent_row.expires_at
    );
    // A list outside the parent's is refused; one inside it is kept.
    let answer = create_key_with(
        &w.app,
        &parent,
        json!({ "i": { "user_id": w.ada.id, "name": "escape", "allowed_ips": ["10.0.0.0/8"] } }),
    )
    .await;
    assert_eq!(error_code(&answer), "BAD_USER_INPUT", "{answer}");
    let answer = create_key_with(
        &w.app,
        &parent,
        json!({ "i": { "user_id": w.ada.id, "name": "narrow", "allowed_ips": ["127.0.0.1"] } }),
    )
    .await;
    let id = created_id(&answer);
    assert_eq!(
        stored_key(&w.app, id).await.allowed_ips.as_deref(),
        Some("127.0.0.1/32")
    );
    // Rotating an unlisted key through the narrowed key hands the successor its list.
    let (open_id, _) = w.app.create_key(&w.ada.id, &w.tenant.id, None).await;
    let answer = w
        .app
        .graphql(
            Some(&parent),
            "mutation($i: rotate_api_key_input!) { rotate_api_key(input: $i) { id } }",
            json!({ "i": { "key_id": open_id, "overlap_hours": 0 } }),
            &[],
        )
        .await;
    let successor = answer["data"]["rotate_api_key"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"));
    let successor = stored_key(&w.app, successor).await;
    assert_eq!(successor.allowed_ips.as_deref(), Some("127.0.0.0/8"));
    assert_eq!(successor.expires_at, parent_row.expires_at);
}

async fn a_demoted_members_delete_with_descendants_skips_the_service_accounts_and_reports_them(
    backend: Backend,
) {
    let w = world(backend).await;
    let (root_id, root) = w.app.create_key(&w.ada.id, &w.tenant.id, None).await;
    let (_, other_key) = w.app.create_key(&w.ada.id, &w.tenant.id, None).await;
    // While an admin, through the root key: a service account, and the rotation of a
    // service account's key someone else made.
    let answer = w
        .app
        .graphql(
            Some(&root),
            "mutation { create_service_account(input: { name: \"robot\" }) { id } }",
            json!({}),
            &[],
        )
        .await;
    let robot = answer["data"]["create_service_account"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"))
        .to_string();
    let deployer = w.app.create_service_account(&w.tenant.id, "deployer").await;
    let (deployer_key, _) = w.app.create_key(&deployer.id, &w.tenant.id, None).await;
    let answer = w
        .app
        .graphql(
            Some(&root),
            "mutation($i: rotate_api_key_input!) { rotate_api_key(input: $i) { id } }",
            json!({ "i": { "key_id": deployer_key, "overlap_hours": 0 } }),
            &[],
        )
        .await;
    let rotated = answer["data"]["rotate_api_key"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"))
        .to_string();
    // And one of her own keys.
    let answer = create_key_with(
        &w.app,
        &root,
        json!({ "i": { "user_id": w.ada.id, "name": "own child" } }),
    )
    .await;
    let own_child = created_id(&answer).to_string();

    // Another admin demotes her (the last human admin cannot be).
    w.app
        .create_person("grace@example.com", &w.tenant.id, Role::Admin)
        .await;
    let (tenant, ada) = (w.tenant.id.clone(), w.ada.id.clone());
    w.app
        .run(move |conn, now| {
            services::members::change_role(
                conn,
                &Actor::operator(),
                now,
                &TenantId::from_stored(&tenant),
                &AccountId::from_stored(&ada),
                Role::User,
            )
        })
        .await
        .unwrap();

    let answer = w
        .app
        .graphql(
            Some(&other_key),
            "mutation($i: delete_api_key_input!) { delete_api_key(input: $i) { success skipped { id name kind } } }",
            json!({ "i": { "key_id": root_id, "with_descendants": true } }),
            &[],
        )
        .await;
    let payload = &answer["data"]["delete_api_key"];
    assert_eq!(payload["success"], true, "{answer}");
    let mut skipped: Vec<(String, String)> = payload["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["kind"].as_str().unwrap().to_string(),
                s["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    skipped.sort();
    assert_eq!(
        skipped,
        [
            ("API_KEY".to_string(), rotated.clone()),
            ("SERVICE_ACCOUNT".to_string(), robot.clone())
        ],
        "{answer}"
    );
    let (robot_id, rotated_id, own_child_id, root_id2) = (
        robot.clone(),
        rotated.clone(),
        own_child.clone(),
        root_id.clone(),
    );
    let (robot_left, rotated_left, own_child_left, root_left) = w
        .app
        .run(move |conn, _| {
            Ok((
                Account::find(conn, &robot_id)?.is_some(),
                ApiKey::find(conn, &rotated_id)?.is_some(),
                ApiKey::find(conn, &own_child_id)?.is_some(),
                ApiKey::find(conn, &root_id2)?.is_some(),
            ))
        })
        .await
        .unwrap();
    assert!(
        robot_left && rotated_left,
        "a USER removes no service account's"
    );
    assert!(
        !own_child_left && !root_left,
        "her key and what it made for her went"
    );
}

/// Every connection of an app's main pool, held on a thread of its own until released.
struct PoolHeld {
    release: std::sync::mpsc::Sender<()>,
    holder: std::thread::JoinHandle<()>,
}

impl PoolHeld {
    async fn all_of(app: &TestApp) -> PoolHeld {
        let pool = app.state.db.pool.clone();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (taken, all_taken) = tokio::sync::oneshot::channel();
        let holder = std::thread::spawn(move || {
            let held: Vec<_> = (0..pool.max_size())
                .map(|_| pool.get().expect("a connection"))
                .collect();
            let _ = taken.send(held.len());
            let _ = released.recv();
            drop(held);
        });
        all_taken.await.unwrap();
        PoolHeld { release, holder }
    }

    fn release(self) {
        self.release.send(()).unwrap();
        self.holder.join().unwrap();
    }
}

async fn a_valid_key_answers_at_once_while_the_main_pool_is_saturated(backend: Backend) {
    let w = world(backend).await;
    let (_, key) = w.app.create_key(&w.ada.id, &w.tenant.id, None).await;
    // Every connection of the main pool is taken; the bookkeeping of the key's first use
    // (its last use, a new client) has none to write with.
    let held = PoolHeld::all_of(&w.app).await;
    let started = Instant::now();
    let res = w
        .app
        .client
        .get(w.app.url("/api/whoami"))
        .bearer_auth(&key)
        .header("user-agent", "saturated-pool-test/1.0")
        .send()
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(res.status(), StatusCode::OK);
    // The old path waited for the pool's 5 s check-out timeout and then answered 503.
    assert!(waited < Duration::from_secs(4), "waited {waited:?}");
    held.release();

    // With connections to be had, the bookkeeping is written (in the background).
    let (other_id, other) = w.app.create_key(&w.ada.id, &w.tenant.id, None).await;
    assert_eq!(
        w.app.get_with_key("/api/whoami", &other).await.status(),
        StatusCode::OK
    );
    let (app, id) = (&w.app, &other_id);
    crate::support::eventually("the key's last use written", move || async move {
        stored_key(app, id).await.last_used_at
    })
    .await;
}

/// Ada's browser, which signed in (and out) from 198.51.100.20: it has her device cookie.
async fn owners_browser(w: &World) -> Browser {
    let owner = Browser::with_address(&w.app, Some("198.51.100.20"));
    owner.sign_in(ADA).await;
    sign_out(&owner).await;
    assert!(owner.cookies().contains("keyward_device="));
    owner
}

/// Ten wrong passwords from ten new addresses: clients without a (current) device cookie
/// for Ada are then refused.
async fn lock_out_new_clients(w: &World) {
    for i in 1..=services::guess_limits::MAX_ACCOUNT {
        let attacker = Browser::with_address(&w.app, Some(&format!("203.0.113.{i}")));
        let res = attacker.sign_in_with(ADA, &format!("guess {i}")).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
}

async fn a_device_cookie_from_before_a_password_change_counts_for_nothing(backend: Backend) {
    let w = world(backend).await;
    let owner = owners_browser(&w).await;
    // A second browser, signed in with the same password (say, by whoever stole it).
    let other = owners_browser(&w).await;
    const NEW: &str = "a brand new passphrase";
    let ada = w.ada.id.clone();
    w.app
        .run(move |conn, _| {
            use diesel::prelude::*;
            use keyward::db::schema::accounts::dsl::*;
            let hash =
                services::passwords::HashedPassword::of(&keyward::domain::Password::offered(NEW))?;
            diesel::update(accounts.filter(id.eq(ada)))
                .set(password_hash.eq(hash.into_inner()))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
    lock_out_new_clients(&w).await;
    // The cookie was issued under the old password: this browser is new again.
    let res = owner.sign_in_with(ADA, NEW).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("from new browsers and devices"));
    assert_eq!(
        other.sign_in_with(ADA, NEW).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Once in with the new password, a browser is known again, under it.
    w.app.clock.advance(time::Duration::minutes(16));
    assert_eq!(
        owner.sign_in_with(ADA, NEW).await.status(),
        StatusCode::SEE_OTHER
    );
    sign_out(&owner).await;
    lock_out_new_clients(&w).await;
    assert_eq!(
        owner.sign_in_with(ADA, NEW).await.status(),
        StatusCode::SEE_OTHER,
        "a cookie issued under the current password still counts"
    );
}

async fn a_device_cookie_past_its_lifetime_counts_for_nothing(backend: Backend) {
    let w = world(backend).await;
    let owner = owners_browser(&w).await;
    // The browser keeps the cookie (its Max-Age is not the server's concern); the server
    // does not honour it past its lifetime.
    w.app
        .clock
        .advance(keyward::web::device_cookie::LIFETIME + time::Duration::minutes(1));
    lock_out_new_clients(&w).await;
    assert_eq!(
        owner.sign_in_with(ADA, PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

async fn a_sign_up_with_a_bogus_invitation_takes_no_hashing_turn(backend: Backend) {
    let w = world(backend).await;
    let stranger = Browser::new(&w.app);
    let signup = [
        ("email", "x@example.com"),
        ("name", "X"),
        ("password", "a long enough password"),
    ];
    // Every hashing turn is taken: a sign-up that hashed first would wait here.
    let all = services::passwords::max_concurrent_hashes() as u32;
    let held = services::passwords::turns()
        .acquire_many(all)
        .await
        .expect("the hashing turns");
    let res = tokio::time::timeout(
        Duration::from_secs(10),
        stranger.post("/t/acme/join/no-such-token/account", &signup),
    )
    .await
    .expect("the bogus invitation waited for a hashing turn");
    drop(held);
    // The answer an unknown token always had.
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let created = w
        .app
        .run(|conn, _| Ok(Account::find_by_email(conn, "x@example.com")?))
        .await
        .unwrap();
    assert!(created.is_none());
}

async fn an_allow_list_refusal_is_audited_while_the_main_pool_is_saturated(backend: Backend) {
    let w = world(backend).await;
    let (_, key) = key_allowed_from(
        &w.app,
        &w.ada.id,
        &w.tenant.id,
        &["203.0.113.0/24"],
        false,
        None,
    )
    .await;
    let held = PoolHeld::all_of(&w.app).await;
    let (client, url) = (w.app.client.clone(), w.app.url("/api/whoami"));
    let mut refused =
        tokio::spawn(async move { client.get(url).bearer_auth(key).send().await.unwrap() });
    // Busy bookkeeping would drop the audit now; the refusal waits for its connection.
    let answered_while_busy = tokio::time::timeout(Duration::from_millis(300), &mut refused)
        .await
        .is_ok();
    held.release();
    if !answered_while_busy {
        let res = refused.await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let events = audited(&w.app, &w.tenant.id, "api_key.refused_ip").await;
    assert_eq!(
        events.len(),
        1,
        "the refusal's audit was dropped: {events:?}"
    );
}
