//! The pages no other browser test walks through (issue 31, "every page at 390 px"):
//! each passes axe-core and has no horizontal overflow at 390 px (`Page::check`).

use super::flows::sign_in;
use super::{ada_in_two_tenants, Chrome};
use crate::support::{Backend, TestApp, PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settings_security_webhooks_password_and_notification_pages_fit_390_px() {
    let Some(chrome) = Chrome::start().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (acme, _) = ada_in_two_tenants(&app).await;
    app.create_service_account(&acme, "deployer").await;
    let page = chrome.page(&app.address, true).await;
    sign_in(&page, "ada@example.com", PASSWORD).await;
    for (path, name, ready) in [
        ("/user/password", "user-password", "main form"),
        ("/user/notifications", "user-notifications", "main form"),
        ("/t/acme/team/settings", "team-settings", "main form"),
        ("/t/acme/team/security", "team-security", "main form"),
        ("/t/acme/team/webhooks", "team-webhooks", "main h1"),
        (
            "/t/acme/team/service-accounts",
            "team-service-accounts",
            "main table",
        ),
    ] {
        page.goto(path).await;
        page.until(name, &format!("document.querySelector('{ready}')"))
            .await;
        assert!(!page.exists("#error").await, "{path} answers an error page");
        page.check(name).await;
    }
    page.close().await;
}
