//! Account recovery in Chromium (issue 26): "Forgot your password?" on the sign-in page,
//! the mail read from a real SMTP server, its link opened, a new password set, and the
//! person signed in with it.

use super::Chrome;
use crate::support::smtp::{mail_through, SmtpSink};
use crate::support::{Backend, TestApp};
use keyward::domain::Role;

const EMAIL: &str = "grace@example.com";
const NEW_PASSWORD: &str = "a brand new passphrase";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgot_password_mail_link_new_password_and_sign_in() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let Some(chrome) = Chrome::start().await else {
        return;
    };
    // --public-url is the server's own address (the browser's forms come from there).
    // Bound now and handed to the server, so no other test takes the port meanwhile.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let public_url = format!("http://127.0.0.1:{port}");
    let app = TestApp::spawn_on(Backend::Sqlite, listener, |s| {
        mail_through(s, &sink, Some(&public_url));
    })
    .await;
    let tenant = app.create_tenant("acme").await;
    app.create_person(EMAIL, &tenant.id, Role::User).await;
    let page = chrome.page(&app.address, true).await;

    page.goto("/login").await;
    page.click("#login-forgot").await;
    page.until("the form", "document.getElementById('forgot-form')")
        .await;
    page.check("forgot-password").await;
    page.fill("#forgot-email", EMAIL).await;
    page.click("#forgot-submit").await;
    page.until("the answer", "document.getElementById('forgot-sent')")
        .await;
    page.check("forgot-password-sent").await;

    let mails = sink.wait_for_mails(1).await;
    assert_eq!(mails[0].rcpt_tos, [EMAIL]);
    let link = mails[0].link().expect("a link in the mail");
    let path = link
        .strip_prefix(&public_url)
        .expect("the link is under --public-url")
        .to_string();

    // The link leads to a page whose URL holds no token.
    page.goto(&path).await;
    page.until("the reset form", "document.getElementById('reset-form')")
        .await;
    assert_eq!(page.path().await, "/reset-password");
    assert!(page.text("#reset-email").await.contains(EMAIL));
    page.check("reset-password").await;
    page.fill("#reset-new-password", NEW_PASSWORD).await;
    page.fill("#reset-new-password-again", NEW_PASSWORD).await;
    page.click("#reset-submit").await;
    page.until(
        "the sign-in page",
        "document.getElementById('login-notice')",
    )
    .await;
    assert!(page
        .text("#login-notice")
        .await
        .contains("new password is set"));

    page.fill("#login-email", EMAIL).await;
    page.fill("#login-password", NEW_PASSWORD).await;
    page.click("#login-submit").await;
    page.until("signed in", "document.getElementById('logout')")
        .await;
    page.close().await;
}
