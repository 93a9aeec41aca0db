//! A form sent after the session ended (issue 12, point 22), without JavaScript: sign-in
//! says the session ended and leads back to the page the form was on.

use crate::backend_tests;
use crate::support::browser::{location, Browser};
use crate::support::{Backend, TestApp};
use keyward::domain::Role;

backend_tests!(a_plain_form_sent_after_the_session_ended_leads_back_through_sign_in);

async fn a_plain_form_sent_after_the_session_ended_leads_back_through_sign_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_tenant("acme").await.id;
    app.create_person("ada@example.com", &acme, Role::Admin)
        .await;
    let b = Browser::new(&app);
    let csrf = b.sign_in("ada@example.com").await;
    app.sql("DELETE FROM sessions").await;

    let sent = b
        .client
        .post(b.url("/t/acme/team/invitations"))
        .header("referer", app.url("/t/acme/team/invitations/new"))
        .form(&[("csrf_token", csrf.as_str()), ("role", "USER")])
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 303);
    let to = location(&sent);
    assert_eq!(
        to, "/login?next=%2Ft%2Facme%2Fteam%2Finvitations%2Fnew&expired=1",
        "back to the form's page, told why"
    );
    let login = b.get(&to).await.text().await.unwrap();
    assert!(login.contains("Your session ended"), "{login}");
    let back = b
        .post(
            "/login",
            &[
                ("email", "ada@example.com"),
                ("password", crate::support::PASSWORD),
                ("next", "/t/acme/team/invitations/new"),
            ],
        )
        .await;
    assert_eq!(location(&back), "/t/acme/team/invitations/new");

    // A page asked for while signed out is no "session ended": just sign in.
    let fresh = Browser::new(&app);
    let asked = fresh.get("/t/acme/team/members").await;
    assert_eq!(location(&asked), "/login?next=%2Ft%2Facme%2Fteam%2Fmembers");
    // Nor is a form sent by a browser that never had a session; only a path of this site
    // is kept from `Referer`.
    let foreign = fresh
        .client
        .post(fresh.url("/t/acme/team/invitations"))
        .header("referer", "https://evil.example/phish?x=1")
        .form(&[("csrf_token", "x"), ("role", "USER")])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&foreign), "/login?next=%2Fphish%3Fx%3D1");
}
