//! Issue 17 point 9: a password change keeps the session's sign-in time (its absolute
//! limit) while rotating its id and CSRF token; a role change rotates the CSRF tokens of
//! the member's sessions.

use crate::backend_tests;
use crate::support::browser::Browser;
use crate::support::{Backend, TestApp, PASSWORD};
use keyward::domain::Role;
use keyward::domain::{AccountId, TenantId};
use keyward::services::{self, Actor};
use time::Duration;

backend_tests!(
    a_password_change_rotates_the_session_id_and_csrf_token_but_keeps_the_absolute_limit,
    a_role_change_rotates_the_members_csrf_tokens,
);

async fn a_password_change_rotates_the_session_id_and_csrf_token_but_keeps_the_absolute_limit(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_tenant("acme").await;
    app.create_person("ada@example.com", &acme.id, Role::User)
        .await;
    let browser = Browser::new(&app);
    let csrf = browser.sign_in("ada@example.com").await;
    let cookie = browser.cookies();
    for _ in 0..11 {
        // Busy, so never idle for the 2-hour idle limit.
        app.clock.advance(Duration::hours(1));
        assert_eq!(browser.get("/user/api-keys").await.status(), 200);
    }
    let res = browser
        .post(
            "/user/password",
            &[
                ("csrf_token", csrf.as_str()),
                ("current_password", PASSWORD),
                ("new_password", "a brand new passphrase"),
                ("new_password_again", "a brand new passphrase"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let new_csrf = browser.csrf_token().await;
    assert_ne!(new_csrf, csrf, "a new CSRF token");
    assert_ne!(browser.cookies(), cookie, "a new session id");
    let stale = browser
        .post("/logout", &[("csrf_token", csrf.as_str())])
        .await;
    assert_eq!(stale.status(), 403, "the old token no longer works");
    app.clock.advance(Duration::minutes(59));
    assert_eq!(browser.get("/user/api-keys").await.status(), 200);
    app.clock.advance(Duration::minutes(2));
    assert_eq!(
        browser.get("/user/api-keys").await.status(),
        303,
        "12 hours after signing in the session ends, password change or not"
    );
}

async fn a_role_change_rotates_the_members_csrf_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_tenant("acme").await;
    let root = app
        .create_person("root@example.com", &acme.id, Role::Admin)
        .await;
    let bob = app
        .create_person("bob@example.com", &acme.id, Role::Admin)
        .await;
    let browser = Browser::new(&app);
    let csrf = browser.sign_in("bob@example.com").await;
    let (root, tenant, bob_id) = (root.id, acme.id, bob.id);
    app.run(move |conn, now| {
        services::members::change_role(
            conn,
            &Actor::person(root, None, keyward::services::SingleSignOn::Satisfied),
            now,
            &TenantId::from_stored(&tenant),
            &AccountId::from_stored(&bob_id),
            Role::User,
        )
    })
    .await
    .unwrap();
    let stale = browser
        .post("/logout", &[("csrf_token", csrf.as_str())])
        .await;
    assert_eq!(
        stale.status(),
        403,
        "a form opened before the change is refused"
    );
    let fresh = browser.csrf_token().await;
    assert_ne!(fresh, csrf);
    assert_eq!(
        browser
            .post("/logout", &[("csrf_token", fresh.as_str())])
            .await
            .status(),
        303
    );
}
