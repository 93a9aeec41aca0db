//! Two-factor in Chromium (issue 27): Ada turns it on from User › Two-factor
//! authentication with a code of the secret the page shows, sees her recovery codes, and
//! then signs in with her password and a code.

use super::flows::{set_up, sign_out, EMAIL, PASSWORD};
use super::Chrome;
use crate::support::{Backend, TestApp};
use time::Duration;

fn code_at(secret: &str, app: &TestApp) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret).expect("a base32 secret");
    let totp = totp_rs::Builder::new()
        .with_secret(secret.as_bytes().to_vec())
        .build()
        .expect("an RFC 6238 authenticator");
    totp.generate(app.clock.now().assume_utc().unix_timestamp() as u64)
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_turns_on_two_factor_and_signs_in_with_a_code() {
    let Some(chrome) = Chrome::start().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let page = chrome.page(&app.address, true).await;
    set_up(&app, &page).await;

    page.goto("/user/two-factor").await;
    page.until(
        "the QR code",
        "document.querySelector('#two-factor-qr svg')",
    )
    .await;
    page.check("two-factor-enrol").await;
    let secret = page.text("#two-factor-secret").await;
    page.fill("#two-factor-enable-password", PASSWORD).await;
    page.fill("#two-factor-code", &code_at(&secret, &app)).await;
    page.click("#two-factor-enable").await;
    page.until(
        "the recovery codes",
        "document.querySelectorAll('#recovery-code-list code').length === 10",
    )
    .await;
    page.check("two-factor-recovery-codes").await;
    assert!(page.text("#two-factor-status").await.contains("is on"));

    // The enrolment's code is spent: the next step's code signs in.
    app.clock.advance(Duration::seconds(30));
    sign_out(&page).await;
    page.fill("#login-email", EMAIL).await;
    page.fill("#login-password", PASSWORD).await;
    page.click("#login-submit").await;
    page.until("the code form", "document.getElementById('login-code')")
        .await;
    assert_eq!(page.path().await, "/login/two-factor");
    page.check("login-two-factor").await;
    let right = code_at(&secret, &app);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    page.fill("#login-code", wrong).await;
    page.click("#login-code-submit").await;
    page.until("the refusal", "document.getElementById('login-error')")
        .await;
    page.fill("#login-code", &right).await;
    page.click("#login-code-submit").await;
    page.until("signed in", "document.getElementById('logout')")
        .await;
    assert_eq!(page.path().await, "/user/api-keys");
    page.close().await;
}
