//! Issue 17's abuse findings: password guessing through `change_password`, per-address
//! sign-in limits, oversized emails, the client address and host behind proxies.

use crate::backend_tests;
use crate::support::browser::Browser;
use crate::support::{Backend, Seeded, TestApp, PASSWORD};
use keyward::domain::{Role, TenantId, TokenDigest};
use keyward::services::{self, Actor};
use reqwest::StatusCode;
use serde_json::{json, Value};
use time::Duration;

backend_tests!(
    wrong_current_passwords_through_graphql_lock_like_failed_sign_ins_and_are_audited,
    wrong_current_passwords_on_the_dashboard_lock_like_failed_sign_ins,
    a_service_accounts_key_cannot_change_a_password,
    an_email_over_254_characters_is_refused_without_a_row_and_failures_store_no_email,
    an_address_is_locked_after_twenty_failures_whatever_the_emails,
    the_client_address_is_the_first_untrusted_hop_of_x_forwarded_for,
    forwarded_host_counts_only_from_a_trusted_proxy_and_links_prefer_the_public_url,
);

const ADA: &str = "ada@example.com";
const CHANGE_PASSWORD: &str =
    "mutation($i: change_password_input!) { change_password(input: $i) { success } }";

struct World {
    app: TestApp,
    tenant: Seeded,
    ada: Seeded,
    ada_key: String,
}

async fn world_with(backend: Backend, trusted_proxy: bool) -> World {
    let app = TestApp::spawn_with(backend, |s| {
        if trusted_proxy {
            s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        }
    })
    .await;
    let tenant = app.create_tenant("acme").await;
    let ada = app.create_person(ADA, &tenant.id, Role::Admin).await;
    let (_, ada_key) = app.create_key(&ada.id, &tenant.id, None).await;
    World {
        app,
        tenant,
        ada,
        ada_key,
    }
}

fn code(answer: &Value) -> &str {
    answer["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("none")
}

async fn change_password_by_key(w: &World, key: &str, current: &str) -> Value {
    let input =
        json!({ "i": { "current_password": current, "new_password": "a brand new passphrase" } });
    w.app.graphql(Some(key), CHANGE_PASSWORD, input, &[]).await
}

async fn audit_events(w: &World, action: &str) -> Vec<keyward::db::models::AuditEvent> {
    let (ada, tenant, action) = (w.ada.id.clone(), w.tenant.id.clone(), action.to_string());
    w.app
        .run(move |conn, _| {
            services::audit::list_audit_events(
                conn,
                &Actor::person(ada, None),
                &TenantId::from_stored(&tenant),
                Some(&action),
                1,
                500,
            )
        })
        .await
        .unwrap()
        .events
        .into_iter()
        .map(|e| e.event)
        .collect()
}

async fn sign_in_failure_rows(app: &TestApp) -> Vec<(String, String)> {
    use diesel::prelude::*;
    use keyward::db::schema::sign_in_failures::dsl::*;
    app.run(|conn, _| {
        Ok(sign_in_failures
            .select((email_digest, ip))
            .load::<(String, String)>(conn)?)
    })
    .await
    .unwrap()
}

// ---- point 2: change_password ----

async fn wrong_current_passwords_through_graphql_lock_like_failed_sign_ins_and_are_audited(
    backend: Backend,
) {
    let w = world_with(backend, false).await;
    for _ in 0..5 {
        let answer = change_password_by_key(&w, &w.ada_key, "a guess").await;
        assert_eq!(code(&answer), "BAD_USER_INPUT", "{answer}");
    }
    let answer = change_password_by_key(&w, &w.ada_key, PASSWORD).await;
    assert_eq!(code(&answer), "TOO_MANY_REQUESTS", "{answer}");
    let res = Browser::new(&w.app).sign_in_with(ADA, PASSWORD).await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the dashboard's sign-in shares the lock"
    );
    let refused = audit_events(&w, "account.password_change_refused").await;
    assert_eq!(refused.len(), 5);
    assert!(refused
        .iter()
        .all(|e| e.target_id.as_deref() == Some(&w.ada.id)));
    w.app.clock.advance(Duration::minutes(15));
    let answer = change_password_by_key(&w, &w.ada_key, PASSWORD).await;
    assert_eq!(
        answer["data"]["change_password"]["success"], true,
        "{answer}"
    );
}

async fn wrong_current_passwords_on_the_dashboard_lock_like_failed_sign_ins(backend: Backend) {
    let w = world_with(backend, false).await;
    let browser = Browser::new(&w.app);
    let csrf = browser.sign_in(ADA).await;
    let change = |current: &'static str| {
        let csrf = csrf.clone();
        let browser = &browser;
        async move {
            browser
                .post(
                    "/user/password",
                    &[
                        ("csrf_token", csrf.as_str()),
                        ("current_password", current),
                        ("new_password", "a brand new passphrase"),
                        ("new_password_again", "a brand new passphrase"),
                    ],
                )
                .await
        }
    };
    for _ in 0..5 {
        assert_eq!(change("a guess").await.status(), 422);
    }
    let res = change(PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("try again in 15 minutes"));
    let answer = change_password_by_key(&w, &w.ada_key, PASSWORD).await;
    assert_eq!(
        code(&answer),
        "TOO_MANY_REQUESTS",
        "GraphQL shares the lock"
    );
    assert_eq!(
        audit_events(&w, "account.password_change_refused")
            .await
            .len(),
        0,
        "dashboard refusals belong to no tenant's log"
    );
    w.app.clock.advance(Duration::minutes(15));
    assert_eq!(change(PASSWORD).await.status(), StatusCode::SEE_OTHER);
}

async fn a_service_accounts_key_cannot_change_a_password(backend: Backend) {
    let w = world_with(backend, false).await;
    let robot = w.app.create_service_account(&w.tenant.id, "deployer").await;
    let (_, robot_key) = w.app.create_key(&robot.id, &w.tenant.id, None).await;
    let answer = change_password_by_key(&w, &robot_key, PASSWORD).await;
    assert_eq!(code(&answer), "FORBIDDEN", "{answer}");
    assert!(answer["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("service account"));
    assert!(
        sign_in_failure_rows(&w.app).await.is_empty(),
        "no guess was counted"
    );
}

// ---- points 3 and 4: sign-in floods ----

async fn an_email_over_254_characters_is_refused_without_a_row_and_failures_store_no_email(
    backend: Backend,
) {
    let w = world_with(backend, false).await;
    let browser = Browser::new(&w.app);
    let huge = format!("{}@example.com", "a".repeat(15 * 1024));
    let res = browser.sign_in_with(&huge, "whatever").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("at most 254 characters"));
    assert!(sign_in_failure_rows(&w.app).await.is_empty());
    let longest_allowed = format!("{}@example.com", "b".repeat(254 - 12));
    assert_eq!(
        browser.sign_in_with(&longest_allowed, "x").await.status(),
        401
    );
    browser.sign_in_with("  Ada@Example.com ", "wrong").await;
    let rows = sign_in_failure_rows(&w.app).await;
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().any(|(d, _)| d == TokenDigest::of(ADA).as_str()));
    assert!(rows.iter().all(|(d, _)| d.len() == 64 && !d.contains('@')));
}

async fn an_address_is_locked_after_twenty_failures_whatever_the_emails(backend: Backend) {
    let w = world_with(backend, true).await;
    let flood = Browser::with_address(&w.app, Some("203.0.113.9"));
    for i in 0..services::sign_in::MAX_ADDRESS_FAILURES {
        let res = flood
            .sign_in_with(&format!("random{i}@example.com"), "x")
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let res = flood.sign_in_with(ADA, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.text().await.unwrap().contains("from your address"));
    let elsewhere = Browser::with_address(&w.app, Some("198.51.100.7"));
    assert_eq!(
        elsewhere.sign_in_with(ADA, PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    w.app.clock.advance(Duration::minutes(15));
    assert_eq!(
        flood.sign_in_with(ADA, PASSWORD).await.status(),
        StatusCode::SEE_OTHER,
        "the lock lifts"
    );
}

// ---- points 6 and 7: client address and host ----

async fn create_key_from(w: &World, forwarded_for: &str) -> String {
    let answer = w
        .app
        .graphql(
            Some(&w.ada_key),
            "mutation($i: create_api_key_input!) { create_api_key(input: $i) { id } }",
            json!({ "i": { "user_id": w.ada.id, "name": format!("via proxy {}", uuid::Uuid::new_v4().simple()) } }),
            &[("x-forwarded-for", forwarded_for)],
        )
        .await;
    let id = answer["data"]["create_api_key"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"))
        .to_string();
    let created = audit_events(w, "api_key.created").await;
    let event = created
        .iter()
        .find(|e| e.target_id.as_deref() == Some(&id))
        .unwrap();
    event.ip.clone().unwrap_or_default()
}

async fn the_client_address_is_the_first_untrusted_hop_of_x_forwarded_for(backend: Backend) {
    let w = world_with(backend, true).await;
    assert_eq!(
        create_key_from(&w, "6.6.6.6, 203.0.113.7:5555").await,
        "203.0.113.7"
    );
    assert_eq!(
        create_key_from(&w, "6.6.6.6, [2001:db8::7]:443").await,
        "2001:db8::7"
    );
    assert_eq!(
        create_key_from(&w, "6.6.6.6, unknown").await,
        "127.0.0.1",
        "junk ends the walk at the last trusted hop"
    );
    for i in 0..8 {
        let spoofing = Browser::with_address(&w.app, Some(&format!("7.7.7.{i}, 203.0.113.9:4444")));
        let res = spoofing.sign_in_with(ADA, "wrong password").await;
        let expected = if i < 5 { 401 } else { 429 };
        assert_eq!(res.status().as_u16(), expected, "attempt {i}");
    }
    let untrusting = world_with(backend, false).await;
    assert_eq!(
        create_key_from(&untrusting, "6.6.6.6, 203.0.113.7").await,
        "127.0.0.1",
        "without trusted proxies the header is ignored"
    );
}

async fn invitation_link(app: &TestApp, browser: &Browser, forwarded_host: &str) -> String {
    let csrf = browser.csrf_token().await;
    let res = browser
        .client
        .post(app.url("/t/acme/team/invitations"))
        .header("x-forwarded-host", forwarded_host)
        .header("x-forwarded-proto", "https")
        .form(&[("csrf_token", csrf.as_str()), ("role", "USER")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    let marker = "id=\"invitation-link\" value=\"";
    let start = html.find(marker).expect("the link is shown") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

async fn login_from_evil_origin(app: &TestApp) -> u16 {
    app.client
        .post(app.url("/login"))
        .header("origin", "http://evil.example")
        .header("x-forwarded-host", "evil.example")
        .form(&[("email", ADA), ("password", "wrong")])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn forwarded_host_counts_only_from_a_trusted_proxy_and_links_prefer_the_public_url(
    backend: Backend,
) {
    let direct = world_with(backend, false).await;
    assert_eq!(login_from_evil_origin(&direct.app).await, 403);
    let browser = Browser::new(&direct.app);
    browser.sign_in(ADA).await;
    let link = invitation_link(&direct.app, &browser, "evil.example").await;
    assert!(
        link.starts_with(&format!(
            "http://127.0.0.1:{}/t/acme/join/",
            direct.app.port
        )),
        "{link}"
    );

    let proxied = world_with(backend, true).await;
    assert_eq!(
        login_from_evil_origin(&proxied.app).await,
        401,
        "a trusted proxy names the host"
    );
    let browser = Browser::new(&proxied.app);
    browser.sign_in(ADA).await;
    let link = invitation_link(&proxied.app, &browser, "keys.example.com").await;
    assert!(
        link.starts_with("https://keys.example.com/t/acme/join/"),
        "{link}"
    );

    let app = TestApp::spawn_with(backend, |s| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        s.public_url = Some("http://keyward.example.org".into());
    })
    .await;
    let tenant = app.create_tenant("acme").await;
    app.create_person(ADA, &tenant.id, Role::Admin).await;
    let browser = Browser::new(&app);
    let res = browser
        .client
        .post(app.url("/login"))
        .header("origin", "http://keyward.example.org")
        .form(&[("email", ADA), ("password", PASSWORD), ("next", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let link = invitation_link(&app, &browser, "evil.example").await;
    assert!(
        link.starts_with("http://keyward.example.org/t/acme/join/"),
        "{link}"
    );
}
