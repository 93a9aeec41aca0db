//! Whole flows as people click through them, each page and dialog checked with axe-core,
//! screenshotted, and looked at 390 px wide.

use super::{Chrome, Page};
use crate::support::{Backend, TestApp};
use fantoccini::key::Key;
use keyward::services;

pub const EMAIL: &str = "ada@example.com";
pub const PASSWORD: &str = "a long enough password";

/// First-run setup in the browser: the tenant "acme" and its admin Ada, signed in.
pub async fn set_up(app: &TestApp, page: &Page) {
    let token = app
        .run(services::setup::issue_token)
        .await
        .unwrap()
        .expect("setup is open");
    page.goto(&format!("/setup?token={token}")).await;
    page.check("setup").await;
    // Chromium checks the slug pattern itself (point 5): a bad slug never leaves the page.
    page.fill("#setup-tenant-name", "Acme Inc.").await;
    page.fill("#setup-tenant-slug", "Not A Slug").await;
    let valid = page
        .js("return document.getElementById('setup-tenant-slug').checkValidity();")
        .await;
    assert_eq!(
        valid,
        serde_json::Value::Bool(false),
        "the browser checks the slug"
    );
    page.fill("#setup-tenant-slug", "acme").await;
    page.fill("#setup-name", "Ada Lovelace").await;
    page.fill("#setup-email", EMAIL).await;
    page.fill("#setup-password", PASSWORD).await;
    page.click("#setup-submit").await;
    page.until("the key list", "document.getElementById('api-keys')")
        .await;
    assert_eq!(page.path().await, "/user/api-keys");
    // The welcome toast names the Team › Members page, with no Markdown shown (point 9).
    let toast = page.text("#toasts").await;
    assert!(toast.contains("Team › Members"), "{toast}");
    assert!(!toast.contains('`'), "{toast}");
    // Flashes sit at the top of the page, in the flow, above everything else the page
    // shows, so they cover no row's actions (as GitHub's flashes).
    let above = page
        .js("var t = document.querySelector('#toasts .toast').getBoundingClientRect();
             var rest = Array.from(document.querySelectorAll('#main > *')).filter(function (e) { return e.id !== 'toasts'; });
             return getComputedStyle(document.getElementById('toasts')).position === 'static'
               && rest.every(function (e) { return e.getBoundingClientRect().top >= t.bottom; });")
        .await;
    assert_eq!(
        above,
        serde_json::Value::Bool(true),
        "the flash is above the page"
    );
}

pub async fn sign_in(page: &Page, email: &str, password: &str) {
    page.goto("/login").await;
    page.fill("#login-email", email).await;
    page.fill("#login-password", password).await;
    page.click("#login-submit").await;
    page.until("signed in", "document.getElementById('logout')")
        .await;
}

pub async fn sign_out(page: &Page) {
    page.click("#logout").await;
    page.until("the sign-in page", "document.getElementById('login-form')")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_sign_in_create_copy_and_delete_a_key() {
    let Some(chrome) = Chrome::start().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let page = chrome.page(&app.address, true).await;
    set_up(&app, &page).await;
    sign_out(&page).await;
    page.check("login").await;
    sign_in(&page, EMAIL, PASSWORD).await;
    page.check("user-api-keys-empty").await;

    // Create a key through the dialog.
    page.click("#create-api-key").await;
    page.until("the dialog", "document.getElementById('dialog').open")
        .await;
    page.until("the form", "document.getElementById('key-name')")
        .await;
    assert_eq!(page.focused().await, "key-name", "the dialog takes focus");
    page.check("dialog-create-api-key").await;
    page.fill("#key-name", "laptop").await;
    page.click("#create-api-key-submit").await;
    page.until("the key", "document.getElementById('new-api-key')")
        .await;
    let token = page
        .css("#new-api-key")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert!(token.starts_with("kwu_"), "{token}");
    // Focus goes to Copy (point 12), and Copy works.
    assert_eq!(page.focused().await, "copy-api-key");
    page.check("dialog-api-key-created").await;
    page.click("#copy-api-key").await;
    page.until(
        "Copied",
        "document.getElementById('copy-api-key').textContent === 'Copied'",
    )
    .await;
    // Escape asks before the shown-once key goes (point 12): dismissing keeps it open.
    page.js("window.confirm = function () { window.__asked = true; return false; };")
        .await;
    page.press(Key::Escape).await;
    page.until("asked", "window.__asked === true").await;
    assert_eq!(
        page.js("return document.getElementById('dialog').open;")
            .await,
        serde_json::Value::Bool(true),
        "dismissing the question keeps the key on screen"
    );
    page.click("#api-key-created-done").await;
    page.until("closed", "!document.getElementById('dialog').open")
        .await;
    assert!(
        !page.exists("#new-api-key").await,
        "the key is gone from the page"
    );
    page.until(
        "the row",
        "document.querySelector('[data-key-name=\"laptop\"]')",
    )
    .await;
    assert!(!page.source().await.contains(&token), "shown once");
    page.check("user-api-keys").await;

    // Delete it: trash icon, confirm, row gone, focus kept on the page (point 12).
    page.click("[data-action=delete-api-key]").await;
    page.until(
        "the question",
        "document.getElementById('confirm-delete-api-key')",
    )
    .await;
    page.check("dialog-delete-api-key").await;
    page.click("#confirm-delete-api-key").await;
    page.until(
        "row gone",
        "!document.querySelector('[data-key-name=\"laptop\"]') && !document.getElementById('dialog').open",
    )
    .await;
    page.until(
        "focus kept on the page after a delete",
        "document.activeElement && document.activeElement !== document.body",
    )
    .await;

    // A picked day reads as that day (point 10); no expiry is warned of (point 11).
    page.open_key_form().await;
    page.css("#key-expiration")
        .await
        .select_by_value("date")
        .await
        .unwrap();
    page.until(
        "the date field",
        "!document.getElementById('key-expires-on-label').hidden",
    )
    .await;
    page.js("document.getElementById('key-expires-on').value = '2099-01-15';")
        .await;
    page.finish_key("dated").await;
    let expires = page
        .text("[data-key-name=\"dated\"] [data-col=expires]")
        .await;
    assert!(expires.starts_with("end of 15 Jan 2099"), "{expires}");
    page.open_key_form().await;
    let warning = page.css("#key-never-warning").await;
    assert!(!warning.is_displayed().await.unwrap());
    page.css("#key-expiration")
        .await
        .select_by_value("never")
        .await
        .unwrap();
    assert!(warning.is_displayed().await.unwrap(), "warned in the form");
    page.finish_key("forever").await;
    assert!(
        page.exists("[data-key-name=\"forever\"] [data-never-expires]")
            .await,
        "and in the list"
    );
    page.check("user-api-keys-dated-and-never").await;

    // favicon and HEAD answer (point 16); sign-out clears what the site stored (17).
    let client = reqwest::Client::new();
    let icon = client.get(app.url("/favicon.ico")).send().await.unwrap();
    assert_eq!(icon.status(), 200);
    let head = client.head(app.url("/login")).send().await.unwrap();
    assert_eq!(head.status(), 200);

    // GraphiQL is linked (point 14) and keeps no headers in localStorage (point 17).
    assert_eq!(
        page.css("#nav-graphiql")
            .await
            .attr("href")
            .await
            .unwrap()
            .as_deref(),
        Some("/graphql")
    );
    page.goto("/graphql").await;
    page.until("GraphiQL", "document.querySelector('.graphiql-container')")
        .await;
    page.until("GraphiQL's storage", "true").await;
    let stored = page.js("return JSON.stringify(window.localStorage);").await;
    assert!(!stored.as_str().unwrap().contains("Bearer"), "{stored}");
    page.goto("/user/api-keys").await;
    page.js(
        "window.localStorage.setItem('graphiql:tabState', 'Authorization: Bearer kwu_example');",
    )
    .await;
    sign_out(&page).await;
    assert_eq!(
        page.js("return window.localStorage.length;").await,
        serde_json::json!(0),
        "signing out clears the site's storage"
    );
    page.close().await;
}
