//! A key's IP allow-list edited from its row in Chromium (issue 16): the dialog keeps a
//! bad range beside its field, a good one closes it and the row shows the new list; without
//! JavaScript the same edit is a page and a redirect.

use super::flows::{set_up, sign_in, EMAIL, PASSWORD};
use super::Chrome;
use crate::support::{Backend, TestApp};

const ROW_LIST: &str = "document.querySelector('[data-key-name=\"office\"] [data-allowed-ips]')";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keys_allow_list_is_edited_from_its_row_with_and_without_javascript() {
    let Some(chrome) = Chrome::start().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let page = chrome.page(&app.address, true).await;
    set_up(&app, &page).await;
    page.open_key_form().await;
    page.finish_key("office").await;

    let edit = "[data-key-name=\"office\"] [data-action=edit-allowed-ips]";
    page.click(edit).await;
    page.until(
        "the dialog",
        "document.getElementById('dialog').open && document.getElementById('edit-allowed-ips')",
    )
    .await;
    page.check("dialog-allowed-ips").await;
    page.fill("#edit-allowed-ips", "203.0.113.0/24 10.0.0.0/33")
        .await;
    page.click("#save-allowed-ips").await;
    page.until(
        "the error in the dialog",
        "document.getElementById('dialog').open && document.querySelector('#dialog [data-field-error=allowed_ips]')",
    )
    .await;
    assert!(page
        .text("#dialog [data-field-error=allowed_ips]")
        .await
        .contains("10.0.0.0/33"));
    page.fill("#edit-allowed-ips", "203.0.113.0/24").await;
    page.click("#save-allowed-ips").await;
    page.until(
        "the row, the dialog closed",
        &format!("!document.getElementById('dialog').open && {ROW_LIST}.textContent === '203.0.113.0/24'"),
    )
    .await;
    assert!(page
        .text("#toasts")
        .await
        .contains("may now be used only from 203.0.113.0/24"));
    // The refreshed row replaced the Edit link that opened the dialog: focus goes to the
    // page's first action, not <body> (issue 31, focus after every dialog).
    page.until(
        "focus on the page",
        "document.activeElement && document.activeElement !== document.body",
    )
    .await;

    // Without JavaScript: the dialog is a page, saving goes back to the list.
    let plain = chrome.page(&app.address, false).await;
    sign_in(&plain, EMAIL, PASSWORD).await;
    plain.goto("/user/api-keys").await;
    plain.click(edit).await;
    plain
        .until("the page", "document.getElementById('edit-allowed-ips')")
        .await;
    plain.fill("#edit-allowed-ips", "").await;
    plain.click("#save-allowed-ips").await;
    plain
        .until(
            "the list",
            &format!("{ROW_LIST}.textContent === 'Anywhere'"),
        )
        .await;
    assert_eq!(plain.path().await, "/user/api-keys");
    page.close().await;
    plain.close().await;
}
