//! Single sign-on in Chromium (issue 30): the sign-in page's button, the real provider's
//! sign-in page, and back to Keyward signed in.

use super::Chrome;
use crate::support::oidc::Provider;
use crate::support::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_sign_in_with_the_provider_button_in_chromium() {
    let Some(provider) = Provider::start(None) else {
        return;
    };
    let Some(chrome) = Chrome::start().await else {
        return;
    };
    // --public-url is the server's own address: the provider sends the browser back there.
    // Bound now and handed to the server, so no other test takes the port meanwhile.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let public_url = format!("http://127.0.0.1:{port}");
    provider.register(&public_url).await;
    provider.account("ada-sub", "ada@example.com", true).await;
    let issuer = provider.issuer.clone();
    let app = TestApp::spawn_on(Backend::Sqlite, listener, |s| {
        s.public_url = Some(public_url.clone());
        s.oidc = Some(crate::oidc::settings(&issuer, &public_url));
    })
    .await;
    let page = chrome.page(&app.address, true).await;

    page.goto("/login").await;
    page.until(
        "the provider's button",
        "document.getElementById('login-sso')",
    )
    .await;
    assert!(page
        .text("#login-sso")
        .await
        .contains("Sign in with Test IdP"));
    page.click("#login-sso").await;
    page.until(
        "the provider's sign-in page",
        "document.getElementById('provider-sign-in')",
    )
    .await;
    page.fill("#sub", "ada-sub").await;
    page.click("#provider-sign-in").await;
    page.until("signed in", "document.getElementById('logout')")
        .await;
    assert_eq!(page.path().await, "/user/api-keys");
}
