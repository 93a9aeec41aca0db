//! Account recovery (issue 26), from outside: the operator's `keyward admin set-password`
//! after a lockout; "Forgot your password?" through a real SMTP server (`support::smtp`):
//! the link under `--public-url` whatever `Host` says, opened without being consumed,
//! setting a password once and ending every session; the same answer and no mail for an
//! unknown address; newer links and password changes voiding older links; the limits per
//! address and per account; and an admin's reset link on Team › Members, offered only
//! within the admin's reach.

use crate::backend_tests;
use crate::support::browser::{header, location, Browser};
use crate::support::smtp::{outbox, Mail, MailWorld};
use crate::support::{run_keyward, Backend, Seeded, TestApp, PASSWORD};
use diesel::prelude::*;
use keyward::db::models::password_reset::PasswordReset;
use keyward::db::models::AuditEvent;
use keyward::domain::{AccountId, ApiKeyId, Role, TenantId, TokenDigest};
use keyward::services::mail::MailKind;
use keyward::services::recovery;
use reqwest::StatusCode;
use serde_json::json;

backend_tests!(
    six_wrong_passwords_lock_a_person_out_and_set_password_lets_them_in_from_the_same_address,
    forgot_password_mails_a_link_under_the_public_url_that_sets_a_new_password_once,
    an_unknown_address_gets_the_same_page_and_no_mail,
    a_newer_link_or_a_password_change_voids_older_links,
    requests_are_limited_per_address_and_per_account,
    an_admin_reset_link_is_offered_only_within_the_admins_reach,
    without_a_public_url_the_form_says_whom_to_ask_and_mails_nothing,
    a_request_while_a_young_link_exists_mails_nothing_and_keeps_it,
    concurrent_requests_leave_one_live_link,
    an_admins_link_dies_when_the_admin_could_no_longer_make_it,
    api_keys_cannot_make_reset_links,
    with_mail_an_admins_link_is_mailed_to_the_person_and_not_shown,
);

const PUBLIC_URL: &str = "https://keys.example.test";
const GRACE: &str = "grace@example.com";
const NEW_PASSWORD: &str = "a brand new passphrase";

/// What this file seeds on every `MailWorld`.
struct People {
    /// Grace, a User of the tenant.
    grace: Seeded,
}

type World = MailWorld<People>;

async fn with_grace(app: &TestApp, tenant: &Seeded) -> People {
    People {
        grace: app.create_person(GRACE, &tenant.id, Role::User).await,
    }
}

/// Ada, an admin of the world's tenant.
async fn ada_admin(w: &World) -> Seeded {
    w.app
        .create_person("ada@example.com", &w.tenant.id, Role::Admin)
        .await
}

async fn audit(app: &TestApp, action: &str) -> Vec<AuditEvent> {
    let action = action.to_string();
    app.read(move |conn| {
        use keyward::db::schema::audit_events::dsl;
        dsl::audit_events
            .filter(dsl::action.eq(action))
            .select(AuditEvent::as_select())
            .load(conn)
    })
    .await
}

async fn resets(app: &TestApp) -> Vec<PasswordReset> {
    app.read(|conn| {
        keyward::db::schema::password_resets::table
            .select(PasswordReset::as_select())
            .load(conn)
    })
    .await
}

/// Asks for a reset mail through `browser`, with extra headers; returns the answer.
async fn ask(browser: &Browser, email: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = browser
        .client
        .post(browser.url("/forgot-password"))
        .form(&[("email", email)]);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.unwrap()
}

/// The path of the link in a mail not among `seen` (paths of earlier ones), waiting for
/// it (the sink's files are unordered).
async fn mailed_path(w: &World, seen: &[&str]) -> String {
    let mails = w.sink().wait_for_mails(seen.len() + 1).await;
    mails
        .iter()
        .map(|m| {
            let link = m.link().expect("a link in the mail");
            link.strip_prefix(PUBLIC_URL)
                .unwrap_or_else(|| panic!("the link is not under --public-url: {link}"))
                .to_string()
        })
        .find(|p| !seen.contains(&p.as_str()))
        .expect("a new link")
}

/// Opens a link in `browser` and sets `password` on the page it leads to.
async fn reset_with(browser: &Browser, path: &str, password: &str) -> reqwest::Response {
    let opened = browser.get(path).await;
    assert_eq!(opened.status(), StatusCode::SEE_OTHER, "{path}");
    assert_eq!(location(&opened), "/reset-password");
    post_new_password(browser, password).await
}

/// Sets `password` on the page an opened link led `browser` to.
async fn post_new_password(browser: &Browser, password: &str) -> reqwest::Response {
    browser
        .post(
            "/reset-password",
            &[("new_password", password), ("new_password_again", password)],
        )
        .await
}

async fn set_password_cli(app: &TestApp, email: &str, password: &str) -> (i32, String, String) {
    let (url, email, password) = (app.db.url.clone(), email.to_string(), password.to_string());
    tokio::task::spawn_blocking(move || {
        run_keyward(
            &[
                "admin",
                "--database-url",
                &url,
                "set-password",
                "--email",
                &email,
                "--password-stdin",
            ],
            &format!("{password}\n"),
        )
    })
    .await
    .unwrap()
}

async fn six_wrong_passwords_lock_a_person_out_and_set_password_lets_them_in_from_the_same_address(
    backend: Backend,
) {
    let w = MailWorld::start(backend, Mail::Off, None, |_| {}, with_grace)
        .await
        .unwrap();
    // A session from before: set-password ends it.
    let before = Browser::new(&w.app);
    before.sign_in(GRACE).await;

    let grace = Browser::new(&w.app);
    let mut last = StatusCode::OK;
    for _ in 0..6 {
        last = grace.sign_in_with(GRACE, "not the password").await.status();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    let locked = grace.sign_in_with(GRACE, PASSWORD).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(locked
        .text()
        .await
        .unwrap()
        .contains("Too many failed sign-ins"));

    // Bad input first: clear errors, exit 2, nothing changed.
    let (code, _, err) = set_password_cli(&w.app, "nobody@example.com", NEW_PASSWORD).await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no person has the email nobody@example.com"),
        "{err}"
    );
    let (code, _, err) = set_password_cli(&w.app, GRACE, "short").await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("at least 8"), "{err}");

    let (code, out, err) = set_password_cli(&w.app, GRACE, NEW_PASSWORD).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("set the password of"), "{out}");
    assert!(!out.contains(NEW_PASSWORD) && !err.contains(NEW_PASSWORD));

    // From the same address: the lockout is lifted, the new password works, the old not.
    let old = grace.sign_in_with(GRACE, PASSWORD).await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    let new = grace.sign_in_with(GRACE, NEW_PASSWORD).await;
    assert_eq!(new.status(), StatusCode::SEE_OTHER);
    // The session from before is gone.
    let ended = before.get("/user/api-keys").await;
    assert_eq!(ended.status(), StatusCode::SEE_OTHER);
    assert!(location(&ended).starts_with("/login"));
    // Audited as the operator (no actor), in Grace's tenant.
    let events = audit(&w.app, "password_reset.set_by_operator").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].actor_id, None);
    assert_eq!(events[0].tenant_id.as_deref(), Some(w.tenant.id.as_str()));
    assert_eq!(events[0].target_id.as_deref(), Some(w.grace.id.as_str()));
}

async fn forgot_password_mails_a_link_under_the_public_url_that_sets_a_new_password_once(
    backend: Backend,
) {
    let Some(w) = MailWorld::start(backend, Mail::On, Some(PUBLIC_URL), |_| {}, with_grace).await
    else {
        return;
    };
    let signed_in = Browser::new(&w.app);
    signed_in.sign_in(GRACE).await;

    let anyone = Browser::new(&w.app);
    let login = anyone.text("/login").await;
    assert!(login.contains("href=\"/forgot-password\""), "{login}");
    // Whatever Host and X-Forwarded-Host say, and however the address is typed.
    let asked = ask(
        &anyone,
        " Grace@Example.COM ",
        &[
            ("host", "evil.example"),
            ("x-forwarded-host", "evil.example"),
        ],
    )
    .await;
    assert_eq!(asked.status(), StatusCode::OK);
    assert!(asked.text().await.unwrap().contains("id=\"forgot-sent\""));

    let mails = w.sink().wait_for_mails(1).await;
    let mail = &mails[0];
    assert_eq!(mail.rcpt_tos, [GRACE]);
    assert_eq!(mail.subject, MailKind::PasswordReset.subject());
    assert!(!mail.body.contains("evil.example"), "{}", mail.body);
    let path = mailed_path(&w, &[]).await;
    let token = path.strip_prefix("/reset-password/").unwrap().to_string();
    assert!(token.len() >= 43, "{token}");
    // Stored as its digest only.
    let rows = resets(&w.app).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].token_digest, TokenDigest::of(&token).into_inner());

    // A mail scanner's GET consumes nothing; each opening leads to a page without the token.
    let scanner = Browser::new(&w.app);
    let prefetched = scanner.get(&path).await;
    assert_eq!(prefetched.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(&prefetched, "referrer-policy"), "no-referrer");
    let cookie = header(&prefetched, "set-cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(!cookie.contains(&token), "{cookie}");

    let person = Browser::new(&w.app);
    let opened = person.get(&path).await;
    assert_eq!(opened.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&opened), "/reset-password");
    let page = person.get("/reset-password").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains(GRACE) && !html.contains(&token), "{html}");

    // A mismatch is refused, and uses nothing up.
    let mismatch = person
        .post(
            "/reset-password",
            &[
                ("new_password", NEW_PASSWORD),
                ("new_password_again", "something else"),
            ],
        )
        .await;
    assert_eq!(mismatch.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let set = post_new_password(&person, NEW_PASSWORD).await;
    assert_eq!(set.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&set), "/login?password_reset=1");
    // Nobody is signed in by it, and every session of the account ended.
    assert_eq!(
        person.get("/user/api-keys").await.status(),
        StatusCode::SEE_OTHER
    );
    let ended = signed_in.get("/user/api-keys").await;
    assert_eq!(ended.status(), StatusCode::SEE_OTHER);
    assert!(location(&ended).starts_with("/login"));

    // Once: the same page again, the scanner's state, and the link itself are refused.
    let again = person
        .post(
            "/reset-password",
            &[
                ("new_password", "yet another password"),
                ("new_password_again", "yet another password"),
            ],
        )
        .await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    let relinked = Browser::new(&w.app).get(&path).await;
    assert_eq!(relinked.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&relinked, "referrer-policy"), "no-referrer");
    assert!(relinked.text().await.unwrap().contains("does not work"));

    let old = Browser::new(&w.app).sign_in_with(GRACE, PASSWORD).await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    let new = Browser::new(&w.app).sign_in_with(GRACE, NEW_PASSWORD).await;
    assert_eq!(new.status(), StatusCode::SEE_OTHER);

    // Every step audited; the mail's body (its link) is gone from the outbox once sent.
    for action in [
        "password_reset.requested",
        "password_reset.opened",
        "password_reset.completed",
    ] {
        assert_eq!(audit(&w.app, action).await.len(), 1, "{action}");
    }
    wait_until_sent(&w.app).await;
    assert!(outbox(&w.app).await.iter().all(|r| r.payload.is_empty()));
    // (A raw SQLite file keeps old page versions in its WAL; pg_dump shows what is stored.)
    if backend == Backend::Postgres {
        assert!(!keyward_dump_contains(&w.app, &token).await);
    }
}

async fn keyward_dump_contains(app: &TestApp, needle: &str) -> bool {
    crate::support::dump_database(app).await.contains(needle)
}

async fn wait_until_sent(app: &TestApp) {
    crate::support::eventually("every outbox row sent", move || async move {
        outbox(app)
            .await
            .iter()
            .all(|r| r.status == "sent")
            .then_some(())
    })
    .await
}

async fn an_unknown_address_gets_the_same_page_and_no_mail(backend: Backend) {
    let Some(w) = MailWorld::start(backend, Mail::On, Some(PUBLIC_URL), |_| {}, with_grace).await
    else {
        return;
    };
    let b = Browser::new(&w.app);
    let unknown = ask(&b, "nobody@example.com", &[]).await;
    let unknown_status = unknown.status();
    let unknown_page = unknown.text().await.unwrap();
    let known = ask(&b, GRACE, &[]).await;
    assert_eq!(known.status(), unknown_status);
    let known_page = known.text().await.unwrap();
    assert_eq!(
        known_page.replace(GRACE, "ADDRESS"),
        unknown_page.replace("nobody@example.com", "ADDRESS")
    );
    // A service account has no email to find; an address with a control character is
    // answered the same too.
    let odd = ask(&b, "a\u{1}b@example.com", &[]).await;
    assert_eq!(odd.status(), StatusCode::OK);

    let mails = w.sink().wait_for_mails(1).await;
    wait_until_sent(&w.app).await;
    assert_eq!(outbox(&w.app).await.len(), 1);
    assert_eq!(w.sink().mails().len(), 1);
    assert_eq!(mails[0].rcpt_tos, [GRACE]);
}

async fn a_newer_link_or_a_password_change_voids_older_links(backend: Backend) {
    let Some(w) = MailWorld::start(backend, Mail::On, Some(PUBLIC_URL), |_| {}, with_grace).await
    else {
        return;
    };
    let b = Browser::new(&w.app);
    assert_eq!(ask(&b, GRACE, &[]).await.status(), StatusCode::OK);
    let first = mailed_path(&w, &[]).await;
    age_links(&w.app, recovery::REISSUE_AFTER).await;
    assert_eq!(ask(&b, GRACE, &[]).await.status(), StatusCode::OK);
    let second = mailed_path(&w, &[&first]).await;
    assert_ne!(first, second);
    assert_eq!(b.get(&first).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(resets(&w.app).await.len(), 1);

    // Opened (its page live), then Grace changes her password signed in: the link and
    // its page no longer work.
    let person = Browser::new(&w.app);
    assert_eq!(person.get(&second).await.status(), StatusCode::SEE_OTHER);
    let grace = Browser::new(&w.app);
    let csrf = grace.sign_in(GRACE).await;
    let changed = grace
        .post(
            "/user/password",
            &[
                ("csrf_token", csrf.as_str()),
                ("current_password", PASSWORD),
                ("new_password", "changed while the link waited"),
                ("new_password_again", "changed while the link waited"),
            ],
        )
        .await;
    assert_eq!(changed.status(), StatusCode::SEE_OTHER);
    let page = person.get("/reset-password").await;
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    let set = post_new_password(&person, NEW_PASSWORD).await;
    assert_eq!(set.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        Browser::new(&w.app).get(&second).await.status(),
        StatusCode::NOT_FOUND
    );
    let still = Browser::new(&w.app)
        .sign_in_with(GRACE, "changed while the link waited")
        .await;
    assert_eq!(still.status(), StatusCode::SEE_OTHER);
}

async fn requests_are_limited_per_address_and_per_account(backend: Backend) {
    let Some(w) = MailWorld::start(
        backend,
        Mail::On,
        Some(PUBLIC_URL),
        |s| {
            s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        },
        with_grace,
    )
    .await
    else {
        return;
    };
    // Per account and address: five, then refused, for a known and an unknown address
    // alike.
    let from_one = Browser::with_address(&w.app, Some("198.51.100.1"));
    for email in [GRACE, "nobody@example.com"] {
        for _ in 0..5 {
            assert_eq!(ask(&from_one, email, &[]).await.status(), StatusCode::OK);
        }
        let refused = ask(&from_one, email, &[]).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS, "{email}");
        assert!(refused
            .text()
            .await
            .unwrap()
            .contains("Too many password reset requests"));
    }
    // Per account, across addresses: ten in all, then a new address is refused too.
    let from_two = Browser::with_address(&w.app, Some("203.0.113.2"));
    for _ in 0..5 {
        assert_eq!(ask(&from_two, GRACE, &[]).await.status(), StatusCode::OK);
    }
    let from_three = Browser::with_address(&w.app, Some("192.0.2.3"));
    assert_eq!(
        ask(&from_three, GRACE, &[]).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another account from that address is not affected, and signing in is not either.
    let other = ask(&from_three, "someone.else@example.com", &[]).await;
    assert_eq!(other.status(), StatusCode::OK);
    assert_eq!(
        from_three.sign_in_with(GRACE, PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    // Audited once per lock, not once per refusal; one link mailed (the clock stood
    // still: no new link while one younger than five minutes exists).
    let refused = audit(&w.app, "password_reset.refused").await;
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert_eq!(audit(&w.app, "password_reset.requested").await.len(), 1);
}

async fn an_admin_reset_link_is_offered_only_within_the_admins_reach(backend: Backend) {
    let w = MailWorld::start(backend, Mail::Off, None, |_| {}, with_grace)
        .await
        .unwrap();
    let app = &w.app;
    let ada = ada_admin(&w).await;
    // Vera also belongs to a tenant Ada does not administer; Sam is a service account.
    let beta = app.create_tenant("beta").await;
    let vera = app
        .create_person("vera@example.com", &w.tenant.id, Role::User)
        .await;
    app.add_member(&vera.id, &beta.id, Role::User).await;
    app.add_member(&ada.id, &beta.id, Role::User).await;
    let sam = app.create_service_account(&w.tenant.id, "Sam").await;

    let admin = Browser::new(app);
    let csrf = admin.sign_in("ada@example.com").await;
    let members = admin.text("/t/acme/team/members").await;
    let offered = |id: &str| members.contains(&format!("/t/acme/team/members/{id}/reset-link"));
    assert!(offered(&w.grace.id), "{members}");
    assert!(!offered(&vera.id) && !offered(&sam.id) && !offered(&ada.id));

    let make = |id: &str| format!("/t/acme/team/members/{id}/reset-link");
    for (id, why) in [
        (&vera.id, "a team you do not administer"),
        (&sam.id, "ervice accounts have no password"),
        (&ada.id, "User › Password"),
    ] {
        let refused = admin
            .post(&make(id), &[("csrf_token", csrf.as_str())])
            .await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{id}");
        let body = refused.text().await.unwrap();
        assert!(body.contains(why), "{body}");
    }
    // A User of the tenant gets no link, and no button.
    let user = Browser::new(app);
    let user_csrf = user.sign_in("vera@example.com").await;
    let refused = user
        .post(&make(&w.grace.id), &[("csrf_token", user_csrf.as_str())])
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    // Shown once, at this server's address (no --public-url here).
    let path = shown_path(app, make_link(&admin, &csrf, &w.grace.id).await).await;
    assert_eq!(audit(app, "password_reset.link_created").await.len(), 1);

    // GraphQL has no way to make one (see `api_keys_cannot_make_reset_links`), so the
    // link on the page stays the live one.
    assert_eq!(resets(app).await.len(), 1);

    // Grace sets her password with it: not signed in by it; then she signs in.
    let grace = Browser::new(app);
    let set = reset_with(&grace, &path, NEW_PASSWORD).await;
    assert_eq!(set.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        grace.get("/user/api-keys").await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        grace.sign_in_with(GRACE, NEW_PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
}

async fn without_a_public_url_the_form_says_whom_to_ask_and_mails_nothing(backend: Backend) {
    let Some(w) = MailWorld::start(backend, Mail::On, None, |_| {}, with_grace).await else {
        return;
    };
    let b = Browser::new(&w.app);
    let form = b.text("/forgot-password").await;
    assert!(
        form.contains("id=\"forgot-mail-off\"") && form.contains("keyward admin set-password"),
        "{form}"
    );
    let asked = ask(&b, GRACE, &[("host", "evil.example")]).await;
    assert_eq!(asked.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(asked.text().await.unwrap().contains("--public-url"));
    assert!(outbox(&w.app).await.is_empty());
    assert!(resets(&w.app).await.is_empty());
}

/// Makes an admin's reset link for `id` on Team › Members of acme; returns the answer.
async fn make_link(admin: &Browser, csrf: &str, id: &str) -> reqwest::Response {
    admin
        .post(
            &format!("/t/acme/team/members/{id}/reset-link"),
            &[("csrf_token", csrf)],
        )
        .await
}

/// The path of the link shown on an admin's page (no mail on this server).
async fn shown_path(app: &crate::support::TestApp, made: reqwest::Response) -> String {
    assert_eq!(made.status(), StatusCode::OK);
    let page = made.text().await.unwrap();
    let marker = "id=\"reset-link\" value=\"";
    let start = page.find(marker).expect("the link on the page") + marker.len();
    let link = &page[start..start + page[start..].find('"').unwrap()];
    link.strip_prefix(&app.address)
        .expect("the server's address")
        .to_string()
}

/// Makes every link older by `by`.
async fn age_links(app: &crate::support::TestApp, by: time::Duration) {
    app.run(move |conn, _| {
        use keyward::db::schema::password_resets::dsl;
        for row in dsl::password_resets
            .select(PasswordReset::as_select())
            .load(conn)?
        {
            diesel::update(dsl::password_resets.find(&row.id))
                .set(dsl::created_at.eq(row.created_at - by))
                .execute(conn)?;
        }
        Ok(())
    })
    .await
    .unwrap();
}

async fn set_role(app: &crate::support::TestApp, account_id: &str, tenant_id: &str, role: Role) {
    app.sql(&format!(
        "UPDATE memberships SET role = '{}' WHERE account_id = '{account_id}' AND tenant_id = '{tenant_id}'",
        role.as_str()
    ))
    .await;
}

// Finding 5: anyone could void a person's link by asking again and again.
async fn a_request_while_a_young_link_exists_mails_nothing_and_keeps_it(backend: Backend) {
    let Some(w) = MailWorld::start(backend, Mail::On, Some(PUBLIC_URL), |_| {}, with_grace).await
    else {
        return;
    };
    let b = Browser::new(&w.app);
    assert_eq!(ask(&b, GRACE, &[]).await.status(), StatusCode::OK);
    let first = mailed_path(&w, &[]).await;
    age_links(&w.app, recovery::REISSUE_AFTER - time::Duration::seconds(1)).await;
    let again = ask(&Browser::new(&w.app), GRACE, &[]).await;
    assert_eq!(again.status(), StatusCode::OK);
    wait_until_sent(&w.app).await;
    assert_eq!(outbox(&w.app).await.len(), 1);
    assert_eq!(resets(&w.app).await.len(), 1);
    // Finding 7: asked and opened by someone not signed in, known by their address.
    let requested = audit(&w.app, "password_reset.requested").await;
    assert_eq!(requested.len(), 1);
    assert_eq!(requested[0].actor_id, None, "{requested:?}");
    assert!(requested[0].ip.is_some(), "{requested:?}");
    let set = reset_with(&Browser::new(&w.app), &first, NEW_PASSWORD).await;
    assert_eq!(set.status(), StatusCode::SEE_OTHER);
    let opened = audit(&w.app, "password_reset.opened").await;
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].actor_id, None, "{opened:?}");
    let completed = audit(&w.app, "password_reset.completed").await;
    assert_eq!(completed[0].actor_id.as_deref(), Some(w.grace.id.as_str()));
}

// Finding 6: two requests at once left two live links on PostgreSQL.
async fn concurrent_requests_leave_one_live_link(backend: Backend) {
    let Some(w) = MailWorld::start(backend, Mail::On, Some(PUBLIC_URL), |_| {}, with_grace).await
    else {
        return;
    };
    let browsers: Vec<Browser> = (0..5).map(|_| Browser::new(&w.app)).collect();
    let answers = futures_util::future::join_all(browsers.iter().map(|b| ask(b, GRACE, &[]))).await;
    for answer in answers {
        assert_eq!(answer.status(), StatusCode::OK);
    }
    assert_eq!(resets(&w.app).await.len(), 1);
    wait_until_sent(&w.app).await;
    assert_eq!(outbox(&w.app).await.len(), 1);
}

// Finding 2: an admin's link was checked only when made.
async fn an_admins_link_dies_when_the_admin_could_no_longer_make_it(backend: Backend) {
    let w = MailWorld::start(backend, Mail::Off, None, |_| {}, with_grace)
        .await
        .unwrap();
    let app = &w.app;
    let ada = ada_admin(&w).await;
    let beta = app.create_tenant("beta").await;
    let admin = Browser::new(app);
    let csrf = admin.sign_in("ada@example.com").await;

    // Grace joins a tenant Ada does not administer: the link no longer opens.
    let path = shown_path(app, make_link(&admin, &csrf, &w.grace.id).await).await;
    app.add_member(&w.grace.id, &beta.id, Role::User).await;
    let opened = Browser::new(app).get(&path).await;
    assert_eq!(opened.status(), StatusCode::NOT_FOUND);
    assert!(opened.text().await.unwrap().contains("does not work"));
    app.sql(&format!(
        "DELETE FROM memberships WHERE account_id = '{}' AND tenant_id = '{}'",
        w.grace.id, beta.id
    ))
    .await;

    // Opened while Ada was admin, then Ada is demoted: the page sets no password.
    let path = shown_path(app, make_link(&admin, &csrf, &w.grace.id).await).await;
    let grace = Browser::new(app);
    assert_eq!(grace.get(&path).await.status(), StatusCode::SEE_OTHER);
    set_role(app, &ada.id, &w.tenant.id, Role::User).await;
    let set = post_new_password(&grace, NEW_PASSWORD).await;
    assert_eq!(set.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        Browser::new(app)
            .sign_in_with(GRACE, PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );

    // Ada admin again: the same link works, and `completed` names her.
    set_role(app, &ada.id, &w.tenant.id, Role::Admin).await;
    let set = reset_with(&Browser::new(app), &path, NEW_PASSWORD).await;
    assert_eq!(set.status(), StatusCode::SEE_OTHER);
    let completed = audit(app, "password_reset.completed").await;
    assert!(completed[0].detail.contains(&ada.id), "{completed:?}");
}

// Finding 3: a human admin's API key could mint a link for a co-admin.
async fn api_keys_cannot_make_reset_links(backend: Backend) {
    let w = MailWorld::start(backend, Mail::Off, None, |_| {}, with_grace)
        .await
        .unwrap();
    let app = &w.app;
    let ada = ada_admin(&w).await;
    let (_, admin_key) = app.create_key(&ada.id, &w.tenant.id, None).await;
    let sam = app.create_service_account(&w.tenant.id, "Sam").await;
    set_role(app, &sam.id, &w.tenant.id, Role::Admin).await;
    let (_, sam_key) = app.create_key(&sam.id, &w.tenant.id, None).await;
    let (ada_id, tenant_id) = (ada.id.clone(), w.tenant.id.clone());
    let read_only_key = app
        .run(move |conn, now| {
            keyward::services::api_keys::create_api_key(
                conn,
                &keyward::services::Actor::operator(),
                now,
                keyward::services::api_keys::NewApiKey {
                    account_id: AccountId::from_stored(ada_id),
                    tenant_id: Some(TenantId::from_stored(tenant_id)),
                    name: keyward::domain::KeyName::parse("read only")?,
                    expires_at: None,
                    read_only: true,
                    allowed_ips: Default::default(),
                    description: Default::default(),
                },
                ApiKeyId::generate(),
                &keyward::domain::Quotas::default(),
            )
        })
        .await
        .unwrap()
        .token
        .expose_secret()
        .to_string();
    let mutation = "mutation($input: create_password_reset_link_input!) { create_password_reset_link(input: $input) { token path } }";
    for key in [&admin_key, &sam_key, &read_only_key] {
        let answer = app
            .graphql(
                Some(key),
                mutation,
                json!({ "input": { "user_id": w.grace.id } }),
                &[],
            )
            .await;
        assert!(answer["errors"][0]["message"].is_string(), "{answer}");
        assert!(answer["data"].is_null(), "{answer}");
    }
    assert!(resets(app).await.is_empty());
    assert!(audit(app, "password_reset.link_created").await.is_empty());
}

// Finding 4: with mail on, the admin saw the token and the person was never told.
async fn with_mail_an_admins_link_is_mailed_to_the_person_and_not_shown(backend: Backend) {
    let Some(w) = MailWorld::start(backend, Mail::On, Some(PUBLIC_URL), |_| {}, with_grace).await
    else {
        return;
    };
    let app = &w.app;
    ada_admin(&w).await;
    let admin = Browser::new(app);
    let csrf = admin.sign_in("ada@example.com").await;
    let made = make_link(&admin, &csrf, &w.grace.id).await;
    assert_eq!(made.status(), StatusCode::OK);
    assert_eq!(header(&made, "cache-control"), "no-store");
    let page = made.text().await.unwrap();
    assert!(page.contains("id=\"reset-link-mailed\""), "{page}");
    assert!(page.contains(GRACE), "{page}");
    assert!(!page.contains("/reset-password/"), "{page}");

    let mails = w.sink().wait_for_mails(1).await;
    assert_eq!(mails[0].rcpt_tos, [GRACE]);
    assert!(
        mails[0].body.contains("ada@example.com"),
        "{}",
        mails[0].body
    );
    let path = mailed_path(&w, &[]).await;
    let set = reset_with(&Browser::new(app), &path, NEW_PASSWORD).await;
    assert_eq!(set.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        Browser::new(app)
            .sign_in_with(GRACE, NEW_PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
}
