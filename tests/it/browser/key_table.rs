//! The key table at 1280 px with what a real team's keys carry (issue 31 point 1): long
//! browser user agents read as a short client name (the whole string in a tooltip), a
//! rotating and an expiring key keep their dates and badges on one line, and the row's
//! actions are on screen without a sideways scroll — on User › API Keys and on a service
//! account's page. Also the service account's role selector and the last admin's note.

use super::flows::sign_in;
use super::Chrome;
use crate::support::{Backend, TestApp, PASSWORD};
use keyward::domain::Role;
use time::Duration;

const LONG_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Keyward-Test-Harness/1.0 (+https://example.com/a/very/long/path/that/keeps/going/and/going/so/that/the/user/agent/reaches/the/cap/of/two/hundred/and/eighty/characters/xxxxxxxxxx)";

/// Calls whoami with `key` as `user_agent` until the client is on record (written off the
/// request, best effort; a call a minute later is written again).
async fn seen_as(app: &TestApp, key_id: &str, key: &str, user_agent: &str) {
    crate::support::eventually("the key's client on record", || {
        let (key_id, key, ua) = (key_id.to_string(), key.to_string(), user_agent.to_string());
        async move {
            let (id, agent) = (key_id.clone(), ua.chars().take(200).collect::<String>());
            let seen = app
                .run(move |conn, _| {
                    Ok(
                        keyward::services::key_clients::clients_of_keys(conn, &[id])?
                            .values()
                            .flatten()
                            .any(|c| c.user_agent == agent),
                    )
                })
                .await
                .unwrap();
            if seen {
                return Some(());
            }
            app.clock.advance(Duration::seconds(61));
            let res = app
                .client
                .get(app.url("/api/whoami"))
                .bearer_auth(&key)
                .header("User-Agent", &ua)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            None
        }
    })
    .await;
}

/// Whether the table's frame has no sideways scroll, every row's last action is inside
/// the window, and no date or badge wraps.
const FITS: &str = "var frame = document.querySelector('#api-keys .overflow-auto');
  var w = document.documentElement.clientWidth;
  var out = [];
  if (frame.scrollWidth > frame.clientWidth + 1) out.push('frame scrolls: ' + frame.scrollWidth + ' > ' + frame.clientWidth);
  if (document.documentElement.scrollWidth > w) out.push('page scrolls');
  document.querySelectorAll('#api-keys-table [data-action=delete-api-key]').forEach(function (a) {
    var r = a.getBoundingClientRect();
    if (r.right > w || r.width === 0) out.push('action off screen at ' + r.right);
  });
  document.querySelectorAll('#api-keys-table time, #api-keys-table .badge').forEach(function (e) {
    if (e.getClientRects().length > 1) out.push('wraps: ' + e.textContent);
  });
  return out.join('; ');";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_table_fits_1280_px_with_long_user_agents_and_its_actions_show() {
    let Some(chrome) = Chrome::start().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let tenant = app.create_tenant("acme").await.id;
    let ada = app
        .create_person("ada@example.com", &tenant, Role::Admin)
        .await
        .id;
    let sa = app.create_service_account(&tenant, "deployer").await.id;
    assert_eq!(LONG_UA.chars().count(), 280);
    let now = app.clock.now();
    for (account, name_prefix) in [(&ada, "laptop"), (&sa, "deploy")] {
        let (soon, soon_key) = app
            .create_key(account, &tenant, Some(now + Duration::days(3)))
            .await;
        seen_as(&app, &soon, &soon_key, LONG_UA).await;
        seen_as(&app, &soon, &soon_key, "curl/7.88.1").await;
        let (rotating, rotating_key) = app
            .create_key(account, &tenant, Some(now + Duration::days(30)))
            .await;
        let rotated = app
            .graphql(
                Some(&rotating_key),
                "mutation($i: rotate_api_key_input!) { rotate_api_key(input: $i) { id } }",
                serde_json::json!({ "i": { "key_id": rotating, "overlap_hours": 24 } }),
                &[],
            )
            .await;
        assert!(rotated["errors"].is_null(), "{name_prefix}: {rotated}");
    }

    let page = chrome.page(&app.address, true).await;
    sign_in(&page, "ada@example.com", PASSWORD).await;
    for path in [
        "/user/api-keys".to_string(),
        format!("/t/acme/team/service-accounts/{sa}"),
    ] {
        page.goto(&path).await;
        page.until("the key table", "document.getElementById('api-keys-table')")
            .await;
        let problems = page
            .js(&format!("return (function () {{ {FITS} }})();"))
            .await;
        assert_eq!(problems, serde_json::json!(""), "{path} at 1280 px");
        let lines = page
            .js("return Array.from(document.querySelectorAll('#api-keys-table [data-key-client]')).map(function (e) { return e.textContent; }).join('|');")
            .await;
        let lines = lines.as_str().unwrap();
        assert!(
            lines.contains("Chrome on Linux from 127.0.0.1") && lines.contains("curl 7.88 from"),
            "{lines}"
        );
        let titles = page
            .js("return Array.from(document.querySelectorAll('#api-keys-table [data-key-client]')).map(function (e) { return e.title; }).join('|');")
            .await;
        assert!(
            titles
                .as_str()
                .unwrap()
                .contains("Keyward-Test-Harness/1.0"),
            "the whole user agent is the tooltip: {titles}"
        );
        assert!(!page
            .text("#api-keys-table")
            .await
            .contains("Keyward-Test-Harness"));
    }
    // The role selector, with what each role lets the keys do.
    assert!(page.exists("#service-account-role-select").await);
    assert!(page
        .text("#service-account-role-help")
        .await
        .contains("Read-only user"));
    page.check("service-account-with-role").await;
    page.goto("/user/api-keys").await;
    page.check("user-api-keys-clients").await;

    // Ada is the only admin: her row offers no other role and says why, in place.
    page.goto("/t/acme/team/members").await;
    let row = format!("#member-{ada}");
    assert!(!page.exists(&format!("{row} select")).await);
    let note = page.css(&format!("{row} [data-last-admin-note]")).await;
    assert!(note.is_displayed().await.unwrap());
    assert!(note
        .text()
        .await
        .unwrap()
        .contains("make someone else an admin before changing this role"));
    page.check("team-members-last-admin").await;
    page.close().await;
}
