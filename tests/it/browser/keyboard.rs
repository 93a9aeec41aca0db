//! The dashboard with the keyboard only, and with JavaScript turned off.

use super::flows::sign_in;
use super::{ada_in_two_tenants, row_of, Chrome, Page};
use crate::support::{Backend, TestApp, PASSWORD};
use fantoccini::key::Key;
use keyward::domain::Role;

async fn inside_dialog(page: &Page) -> bool {
    page.js("return !!document.activeElement.closest('#dialog');")
        .await
        == serde_json::Value::Bool(true)
}

async fn type_text(page: &Page, text: &str) {
    for _ in 0..5 {
        let el = page.client.active_element().await.unwrap();
        match el.send_keys(text).await {
            Ok(()) => return,
            Err(e) if e.to_string().contains("stale") => continue,
            Err(e) => panic!("typing: {e}"),
        }
    }
    panic!("typing: the focused field kept being replaced");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialogs_take_focus_keep_it_and_give_it_back() {
    let Some(chrome) = Chrome::start().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let acme = app.create_tenant("acme").await;
    app.create_person("ada@example.com", &acme.id, Role::User)
        .await;
    let page = chrome.page(&app.address, true).await;
    sign_in(&page, "ada@example.com", PASSWORD).await;
    page.record_events().await;

    // Open the create dialog from the keyboard.
    page.press_on("#create-api-key", Key::Enter).await;
    page.until("the form", "document.activeElement.id === 'key-name'")
        .await;
    // Tab and Shift+Tab stay inside.
    for _ in 0..8 {
        page.press(Key::Tab).await;
        assert!(inside_dialog(&page).await, "Tab left the dialog");
    }
    for _ in 0..8 {
        let el = page.client.active_element().await.unwrap();
        el.send_keys(&format!("{}{}", Key::Shift, Key::Tab))
            .await
            .unwrap();
        assert!(inside_dialog(&page).await, "Shift+Tab left the dialog");
    }
    // Escape closes; focus goes back to the opener.
    page.press(Key::Escape).await;
    page.until("closed", "!document.getElementById('dialog').open")
        .await;
    page.until(
        "focus back",
        "document.activeElement.id === 'create-api-key'",
    )
    .await;

    // Create a key with the keyboard: name, Enter; focus lands on Copy.
    page.press(Key::Enter).await;
    page.until("the form", "document.activeElement.id === 'key-name'")
        .await;
    type_text(&page, "keyboard").await;
    page.press(Key::Enter).await;
    page.until(
        "Copy has focus",
        "document.activeElement.id === 'copy-api-key'",
    )
    .await;
    // Escape asks first; saying yes closes, and focus returns.
    page.js("window.confirm = function () { window.__asked = (window.__asked || 0) + 1; return true; };")
        .await;
    page.press(Key::Escape).await;
    page.until("closed", "!document.getElementById('dialog').open")
        .await;
    assert_eq!(
        page.js("return window.__asked;").await,
        serde_json::json!(1)
    );
    page.until(
        "focus back",
        "document.activeElement.id === 'create-api-key'",
    )
    .await;

    // Delete it with the keyboard; focus is not lost when its row goes.
    page.until(
        "the row",
        "document.querySelector('[data-key-name=\"keyboard\"]')",
    )
    .await;
    page.press_on("[data-action=delete-api-key]", Key::Enter)
        .await;
    page.until(
        "the question has focus",
        "document.activeElement.closest('#dialog') && document.getElementById('confirm-delete-api-key')",
    )
    .await;
    page.press_on("#confirm-delete-api-key", Key::Enter).await;
    page.until(
        "row gone",
        "!document.querySelector('[data-key-name=\"keyboard\"]')",
    )
    .await;
    page.until(
        "focus on the page",
        "document.activeElement && document.activeElement !== document.body",
    )
    .await;

    // A dialog opened again before the close event of its last closing ran (a loaded
    // machine, a quick keyboard: two swaps into the dialog in a row) keeps its new
    // content and its focus.
    page.js(
        "var d = document.getElementById('dialog');
         d.showModal();
         d.close();
         document.getElementById('dialog-body').innerHTML = '<p>again</p><button id=\"fresh\">OK</button>';
         d.showModal();
         document.getElementById('fresh').focus();",
    )
    .await;
    page.js("return new Promise(function (done) { setTimeout(done, 100); });")
        .await;
    assert!(
        page.exists("#dialog[open] #fresh").await,
        "the new content stays"
    );
    assert_eq!(page.focused().await, "fresh");
    page.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_javascript_keys_tenants_and_team_forms_still_work() {
    let Some(chrome) = Chrome::start().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (acme, globex) = ada_in_two_tenants(&app).await;
    app.create_service_account(&acme, "ci-bot").await;
    let page = chrome.page(&app.address, false).await;
    sign_in(&page, "ada@example.com", PASSWORD).await;
    assert_eq!(
        page.js("return document.documentElement.classList.contains('js');")
            .await,
        serde_json::Value::Bool(false),
        "JavaScript is off"
    );
    // The tenant switcher shows its whole name beside its Switch button, at 1280 and at
    // 390 px (it was cut to "Acme Cc": issue 31 point 11).
    for width in [1280, 390] {
        page.client.set_window_size(width, 900).await.unwrap();
        let fit = page
            .js("var s = document.querySelector('#tenant-switcher select'), cs = getComputedStyle(s);
                 var c = document.createElement('canvas').getContext('2d');
                 c.font = cs.fontWeight + ' ' + cs.fontSize + ' ' + cs.fontFamily;
                 var text = c.measureText(s.options[s.selectedIndex].text).width;
                 var room = s.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
                 return [text, room, document.querySelector('#tenant-switcher button').getBoundingClientRect().right <= document.documentElement.clientWidth];")
            .await;
        let (text, room) = (fit[0].as_f64().unwrap(), fit[1].as_f64().unwrap());
        assert!(
            text <= room + 0.5,
            "the tenant's name needs {text} px and has {room} px at {width} px"
        );
        assert_eq!(
            fit[2],
            serde_json::json!(true),
            "Switch on screen at {width} px"
        );
    }
    page.client.set_window_size(1280, 900).await.unwrap();

    // Create a key on the plain page.
    page.open_key_form().await;
    // A date typed beside a preset is not dropped silently (point 16).
    page.fill("#key-name", "no-js").await;
    page.css("#key-expiration")
        .await
        .select_by_value("30")
        .await
        .unwrap();
    page.js("document.getElementById('key-expires-on').value = '2031-01-31';")
        .await;
    page.click("#create-api-key-submit").await;
    page.until(
        "the error",
        "document.querySelector('[data-field-error=expires_at]')",
    )
    .await;
    page.js("document.getElementById('key-expires-on').value = '';")
        .await;
    page.click("#create-api-key-submit").await;
    page.until("the key", "document.getElementById('new-api-key')")
        .await;
    // Copy needs JavaScript, so it is not offered (point 16).
    assert!(!page
        .css("#copy-api-key")
        .await
        .is_displayed()
        .await
        .unwrap());
    page.screenshot("no-js-api-key-created").await;
    page.click("#api-key-created-done").await;
    page.until("the row", &row_of("no-js")).await;

    // Delete it through the confirmation page.
    page.delete_key("no-js").await;

    // Switch tenant with the visible Switch button.
    page.css("#tenant-switcher select")
        .await
        .select_by_label("globex")
        .await
        .ok();
    let globex_id = globex;
    // The old page is marked, so waiting ends on the page the switch loads, not on
    // the old one whose select was just set.
    page.js(&format!(
        "document.querySelector('#tenant-switcher select').value = '{globex_id}'; window.keywardOldPage = true;"
    ))
    .await;
    page.click("#tenant-switcher button").await;
    page.until(
        "switched",
        &format!("!window.keywardOldPage && document.readyState === 'complete' && document.querySelector('#tenant-switcher select').value === '{globex_id}'"),
    )
    .await;
    assert!(!page.exists("#nav-team").await, "a User in globex");

    // A Team form: rename the service account.
    page.goto("/t/acme/team/service-accounts").await;
    page.click("#service-accounts-table a").await;
    page.until("its page", "document.getElementById('service-account')")
        .await;
    page.click("#rename-service-account summary").await;
    page.fill("#rename-service-account-form input[name=name]", "ci-robot")
        .await;
    page.click("#rename-service-account-submit").await;
    page.until(
        "renamed",
        "document.querySelector('h1') && document.querySelector('h1').textContent === 'ci-robot'",
    )
    .await;
    // And invite someone.
    page.goto("/t/acme/team/members").await;
    page.click("#invite-member").await;
    page.until("the form", "document.getElementById('invitation-submit')")
        .await;
    page.click("#invitation-submit").await;
    page.until("the link", "document.getElementById('invitation-link')")
        .await;
    page.close().await;
}
