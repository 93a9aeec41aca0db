//! Editing a key's IP allow-list from its row on the dashboard (issue 16): on User › API
//! Keys and on a service account's page, with htmx and as plain forms, bad ranges refused
//! beside the field (422, nothing changed), every change audited as through GraphQL, and
//! only for whoever may revoke the key.

use crate::backend_tests;
use crate::support::browser::{header, input_value, location, Browser};
use crate::support::{Backend, TestApp};
use diesel::prelude::*;
use keyward::db::schema::{api_keys, audit_events};
use keyward::domain::Role;
use serde_json::json;

async fn allowed_ips(app: &TestApp, key_id: &str) -> Option<String> {
    let key_id = key_id.to_string();
    app.run(move |conn, _| {
        Ok(api_keys::table
            .find(key_id)
            .select(api_keys::allowed_ips)
            .first::<Option<String>>(conn)?)
    })
    .await
    .unwrap()
}

/// The actors of the key's `api_key.allowed_ips_changed` events, oldest first.
async fn changes_by(app: &TestApp, key_id: &str) -> Vec<String> {
    let key_id = key_id.to_string();
    app.run(move |conn, _| {
        Ok(audit_events::table
            .filter(audit_events::action.eq("api_key.allowed_ips_changed"))
            .filter(audit_events::target_id.eq(key_id))
            .order(audit_events::at.asc())
            .select(audit_events::actor_id)
            .load::<Option<String>>(conn)?
            .into_iter()
            .flatten()
            .collect())
    })
    .await
    .unwrap()
}

/// Whether `key` authenticates from this test's own address (127.0.0.1).
async fn works_from_here(app: &TestApp, key: &str) -> bool {
    let answer = app
        .graphql(Some(key), "{ auth_info { api_key_id } }", json!({}), &[])
        .await;
    answer["data"]["auth_info"]["api_key_id"].is_string()
}

async fn a_person_edits_their_keys_allow_list_from_its_row_with_and_without_javascript(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("acme").await;
    let ada = app
        .create_person("ada@example.com", &tenant.id, Role::User)
        .await;
    let (key_id, secret) = app.create_key(&ada.id, &tenant.id, None).await;
    let browser = Browser::new(&app);
    let csrf = browser.sign_in("ada@example.com").await;
    let url = format!("/user/api-keys/{key_id}/allowed-ips");

    let list = browser.get("/user/api-keys").await.text().await.unwrap();
    assert!(list.contains(&format!("href=\"{url}\"")), "{list}");

    // The dialog for htmx, its own page without JavaScript.
    let dialog = browser.get_hx(&url).await;
    assert_eq!(dialog.status(), 200);
    let dialog = dialog.text().await.unwrap();
    assert!(dialog.contains("id=\"allowed-ips-form\""), "{dialog}");
    assert!(!dialog.contains("<!doctype html>"), "a partial: {dialog}");
    let page = browser.get(&url).await.text().await.unwrap();
    assert!(page.contains("<!doctype html>") && page.contains("id=\"allowed-ips-form\""));
    assert_eq!(input_value(&page, "allowed_ips").as_deref(), Some(""));

    // A bad range: 422 beside the field, what was typed kept, nothing changed.
    let res = browser
        .post(
            &url,
            &[
                ("csrf_token", &csrf),
                ("allowed_ips", "203.0.113.0/24 10.0.0.0/33"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("<!doctype html>"), "the whole page again");
    assert!(html.contains("data-field-error=\"allowed_ips\""), "{html}");
    assert!(
        html.contains("&#34;10.0.0.0/33&#34; is not an IPv4 or IPv6 address"),
        "{html}"
    );
    assert_eq!(
        input_value(&html, "allowed_ips").as_deref(),
        Some("203.0.113.0/24 10.0.0.0/33")
    );
    let res = browser
        .post_hx(&url, &[("csrf_token", &csrf), ("allowed_ips", "junk")])
        .await;
    assert_eq!(res.status(), 422);
    assert_eq!(
        header(&res, "hx-retarget"),
        "#dialog-body",
        "back into the dialog"
    );
    let html = res.text().await.unwrap();
    assert!(
        !html.contains("<!doctype html>") && html.contains("&#34;junk&#34; is not"),
        "{html}"
    );
    assert_eq!(allowed_ips(&app, &key_id).await, None);
    assert!(changes_by(&app, &key_id).await.is_empty());

    // Without JavaScript: saved, back to the list where the message waits.
    let res = browser
        .post(
            &url,
            &[
                ("csrf_token", &csrf),
                ("allowed_ips", "203.0.113.9/24, 2001:db8::/32"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/user/api-keys");
    let list = browser.get("/user/api-keys").await.text().await.unwrap();
    assert!(
        list.contains("may now be used only from 203.0.113.0/24, 2001:db8::/32"),
        "{list}"
    );
    assert!(list.contains("<span data-allowed-ips>203.0.113.0/24, 2001:db8::/32</span>"));
    assert_eq!(
        allowed_ips(&app, &key_id).await.as_deref(),
        Some("203.0.113.0/24,2001:db8::/32")
    );
    assert!(
        !works_from_here(&app, &secret).await,
        "refused from 127.0.0.1"
    );
    // The dialog opens with the list as it is now.
    let dialog = browser.get_hx(&url).await.text().await.unwrap();
    assert_eq!(
        input_value(&dialog, "allowed_ips").as_deref(),
        Some("203.0.113.0/24, 2001:db8::/32")
    );

    // With htmx: the list comes back with a toast; empty means anywhere again.
    let res = browser
        .post_hx(&url, &[("csrf_token", &csrf), ("allowed_ips", "  ")])
        .await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"api-keys\""), "the list: {html}");
    assert!(
        html.contains("may now be used from anywhere"),
        "the toast: {html}"
    );
    assert!(
        html.contains("<span data-allowed-ips>Anywhere</span>"),
        "{html}"
    );
    assert_eq!(allowed_ips(&app, &key_id).await, None);
    assert!(works_from_here(&app, &secret).await);
    assert_eq!(
        changes_by(&app, &key_id).await,
        vec![ada.id.clone(), ada.id]
    );

    // Without the CSRF token nothing changes.
    let res = browser.post(&url, &[("allowed_ips", "192.0.2.1")]).await;
    assert!(res.status().is_client_error(), "{}", res.status());
    assert_eq!(allowed_ips(&app, &key_id).await, None);
}

async fn only_whoever_may_revoke_a_key_edits_its_allow_list_and_others_learn_nothing(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("acme").await;
    let ada = app
        .create_person("ada@example.com", &tenant.id, Role::Admin)
        .await;
    app.create_person("bob@example.com", &tenant.id, Role::User)
        .await;
    let (adas_key, _) = app.create_key(&ada.id, &tenant.id, None).await;
    let robot = app.create_service_account(&tenant.id, "robot").await;
    let other = app.create_service_account(&tenant.id, "other").await;
    let (robots_key, robots_secret) = app.create_key(&robot.id, &tenant.id, None).await;
    let base = format!("/t/acme/team/service-accounts/{}", robot.id);
    let url = format!("{base}/api-keys/{robots_key}/allowed-ips");

    // An admin, on the service account's page.
    let admin = Browser::new(&app);
    let csrf = admin.sign_in("ada@example.com").await;
    let page = admin.get(&base).await.text().await.unwrap();
    assert!(page.contains(&format!("href=\"{url}\"")), "{page}");
    let dialog = admin.get_hx(&url).await.text().await.unwrap();
    assert!(dialog.contains("id=\"allowed-ips-form\""), "{dialog}");
    let res = admin
        .post(
            &url,
            &[("csrf_token", &csrf), ("allowed_ips", "10.0.0.0/8 junk")],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("&#34;junk&#34; is not"));
    let res = admin
        .post_hx(
            &url,
            &[("csrf_token", &csrf), ("allowed_ips", "2001:db8::/32")],
        )
        .await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("<span data-allowed-ips>2001:db8::/32</span>"),
        "{html}"
    );
    assert!(!works_from_here(&app, &robots_secret).await);
    assert_eq!(changes_by(&app, &robots_key).await, vec![ada.id.clone()]);
    let res = admin
        .post(&url, &[("csrf_token", &csrf), ("allowed_ips", "")])
        .await;
    assert_eq!(location(&res), base);
    assert!(works_from_here(&app, &robots_secret).await);

    // Through another service account's page, or another person's own list: not found.
    let elsewhere = format!(
        "/t/acme/team/service-accounts/{}/api-keys/{robots_key}/allowed-ips",
        other.id
    );
    let user_url = format!("/user/api-keys/{robots_key}/allowed-ips");
    for path in [&elsewhere, &user_url] {
        assert_eq!(admin.get(path).await.status(), 404, "{path}");
        let res = admin
            .post(path, &[("csrf_token", &csrf), ("allowed_ips", "192.0.2.1")])
            .await;
        assert_eq!(res.status(), 404, "{path}");
    }
    assert_eq!(allowed_ips(&app, &robots_key).await, None);

    // A member who may not revoke these keys may not touch their lists.
    let member = Browser::new(&app);
    let csrf = member.sign_in("bob@example.com").await;
    let adas_url = format!("/user/api-keys/{adas_key}/allowed-ips");
    for path in [&url, &adas_url] {
        let res = member
            .post(path, &[("csrf_token", &csrf), ("allowed_ips", "192.0.2.1")])
            .await;
        assert!(
            matches!(res.status().as_u16(), 403 | 404),
            "{path}: {}",
            res.status()
        );
    }
    assert_eq!(allowed_ips(&app, &robots_key).await, None);
    assert_eq!(allowed_ips(&app, &adas_key).await, None);
    assert!(changes_by(&app, &adas_key).await.is_empty());
}

backend_tests!(
    a_person_edits_their_keys_allow_list_from_its_row_with_and_without_javascript,
    only_whoever_may_revoke_a_key_edits_its_allow_list_and_others_learn_nothing
);
