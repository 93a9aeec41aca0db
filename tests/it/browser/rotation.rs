//! The rotate dialog in Chromium (issue 31 point 7): it says when the new key expires and
//! lets people pick within the tenant's key policy; a day past the policy is refused beside
//! the date, which gets focus; and a key's description set in the create dialog is listed
//! under its name (point 12).

use super::flows::sign_in;
use super::{row_of, Chrome};
use crate::support::{Backend, TestApp, PASSWORD};
use keyward::domain::{KeyPolicy, Role, TenantId};
use keyward::services::{self, Actor};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rotate_dialog_asks_when_the_new_key_expires_and_focuses_a_refused_date() {
    let Some(chrome) = Chrome::start().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let acme = app.create_tenant("acme").await.id;
    let ada = app
        .create_person("ada@example.com", &acme, Role::Admin)
        .await
        .id;
    let t = acme.clone();
    app.run(move |conn, now| {
        let policy = KeyPolicy::new(Some(14), true)?;
        services::key_policy::set_tenant_key_policy(
            conn,
            &Actor::person(ada, None),
            now,
            &TenantId::from_stored(&t),
            policy,
        )
        .map(drop)
    })
    .await
    .unwrap();
    let page = chrome.page(&app.address, true).await;
    sign_in(&page, "ada@example.com", PASSWORD).await;

    // A key with a description, from the create dialog.
    page.open_key_form().await;
    page.fill("#key-description", "deploys staging from CI")
        .await;
    page.finish_key("deploy").await;
    assert_eq!(
        page.text("[data-key-name=\"deploy\"] [data-col=description]")
            .await,
        "deploys staging from CI"
    );
    page.screenshot("user-api-keys-description").await;
    // The description wraps in its column: the row's actions stay on screen at 1280 px.
    assert_eq!(
        page.js("var r = document.querySelector('[data-key-name=\"deploy\"] [data-action=delete-api-key]').getBoundingClientRect(); return r.right <= document.documentElement.clientWidth;")
            .await,
        serde_json::json!(true)
    );

    // The rotate dialog: its first field is when the new key expires, the old lifetime
    // chosen; the policy's presets only; the picker stops at the last allowed day.
    page.click("[data-key-name=\"deploy\"] [data-action=rotate-api-key]")
        .await;
    page.until(
        "the dialog has focus",
        "document.activeElement.id === 'rotate-expiration'",
    )
    .await;
    let first = page
        .js("var s = document.getElementById('rotate-expiration'); return [s.value, s.options[s.selectedIndex].text, Array.from(s.options).map(function (o) { return o.value; }).join(',')];")
        .await;
    assert_eq!(first[0], "same", "{first}");
    assert!(
        first[1]
            .as_str()
            .unwrap()
            .starts_with("Same lifetime as this key: until "),
        "{first}"
    );
    assert_eq!(first[2], "same,7,14,date", "{first}");
    page.check("dialog-rotate-api-key").await;

    // A day past the policy: refused beside the field, the dialog stays, the date has focus.
    let last = page
        .css("#rotate-expires-on")
        .await
        .attr("max")
        .await
        .unwrap()
        .expect("a last day");
    let too_late = time::Date::parse(
        &last,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .unwrap()
    .next_day()
    .unwrap()
    .to_string();
    page.css("#rotate-expiration")
        .await
        .select_by_value("date")
        .await
        .unwrap();
    page.js(&format!(
        "var d = document.getElementById('rotate-expires-on'); d.removeAttribute('max'); d.value = '{too_late}';"
    ))
    .await;
    page.click("#confirm-rotate-api-key").await;
    page.until(
        "the refusal",
        "document.getElementById('rotate-expiration-error')",
    )
    .await;
    assert!(page
        .text("#rotate-expiration-error")
        .await
        .contains("the last day you can pick is"));
    page.until(
        "focus on the field in error",
        "document.activeElement.getAttribute('aria-invalid') === 'true'",
    )
    .await;

    // 14 days: the new key is shown once, and Done gives focus back to the page.
    page.css("#rotate-expiration")
        .await
        .select_by_value("14")
        .await
        .unwrap();
    page.click("#confirm-rotate-api-key").await;
    page.until("the key", "document.getElementById('new-api-key')")
        .await;
    page.click("#api-key-created-done").await;
    page.until("closed", "!document.getElementById('dialog').open")
        .await;
    page.until(
        "focus on the page",
        "document.activeElement && document.activeElement !== document.body",
    )
    .await;
    page.until("the row", &row_of("deploy")).await;
    page.close().await;
}
