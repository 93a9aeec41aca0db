//! The dashboard over HTTP with a cookie jar: first-run setup, sign-in and sessions,
//! throttling, CSRF, headers and assets, User › API Keys (htmx and plain forms) and
//! password changes.

use crate::backend_tests;
use crate::support::browser::{header, input_value, location, Browser};
use crate::support::{Backend, TestApp, PASSWORD};
use keyward::domain::Role;
use keyward::domain::{AccountId, TenantId};
use keyward::services::{self, Actor};
use reqwest::{Response, StatusCode};
use time::Duration;

backend_tests!(
    setup_works_once_with_the_printed_token_and_then_answers_404,
    setup_shows_field_errors_and_creates_nothing_for_bad_input,
    a_setup_link_submitted_twice_at_once_sets_up_once,
    anonymous_pages_redirect_to_sign_in_and_htmx_gets_hx_redirect,
    signing_in_and_out_ends_the_session_on_the_server,
    signing_in_gives_a_new_session_id_and_ends_the_old_one,
    a_second_instance_on_the_same_database_shares_sessions_and_throttling,
    session_cookie_is_http_only_and_lax_and_host_prefixed_behind_https,
    sessions_end_after_the_idle_and_the_absolute_timeout,
    five_failures_lock_an_email_and_address_for_fifteen_minutes,
    unknown_emails_get_the_same_answer_as_wrong_passwords,
    attempts_racing_each_other_get_no_more_than_five_guesses,
    failures_from_one_address_do_not_lock_out_another,
    every_state_changing_dashboard_route_refuses_a_missing_or_wrong_csrf_token,
    csrf_token_is_accepted_from_the_header_that_htmx_sends,
    forms_sent_from_another_site_are_refused_even_before_sign_in,
    pages_carry_the_security_headers,
    vendored_assets_are_served_with_long_cache_headers,
    creating_with_bad_input_shows_field_errors_and_stores_nothing,
    a_new_key_is_shown_exactly_once_and_a_resubmitted_form_creates_nothing,
    the_create_dialog_works_over_htmx_and_refreshes_the_list,
    one_form_posted_twice_at_the_same_instant_creates_one_key,
    deleting_a_key_over_htmx_removes_its_row_and_says_so,
    deleting_a_key_with_a_plain_form_redirects_with_a_message,
    another_persons_key_cannot_be_deleted,
    a_form_that_cannot_be_read_gets_a_clear_error_page,
    the_same_route_answers_htmx_with_a_partial_and_browsers_with_the_page,
    the_list_shows_tenant_expiry_and_last_use_as_people_read_them,
    team_links_follow_the_current_tenant_and_the_role_read_on_each_request,
    the_tenant_switcher_accepts_only_your_tenants,
    changing_the_password_ends_the_other_sessions,
    a_wrong_current_password_changes_nothing,
    removing_an_account_from_every_tenant_keeps_it_signed_in_without_tenants,
    last_used_names_the_client_briefly_with_the_whole_user_agent_in_a_tooltip,
    team_and_user_shortcuts_redirect_and_keep_their_query_string,
    expiring_soon_is_one_rule_for_the_badge_the_filter_the_banner_and_graphql,
);

/// A request carrying exactly this `Cookie` header, from a client without a jar.
async fn get_with_cookie(app: &TestApp, path: &str, cookie: &str) -> Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

async fn own_key_count(app: &TestApp, account_id: &str) -> usize {
    let id = account_id.to_string();
    app.run(move |conn, _| {
        Ok(services::key_lists::own_api_keys_page(
            conn,
            &Actor::person(id, None, keyward::services::SingleSignOn::Satisfied),
            &keyward::db::models::api_key_list::KeyWhere::default(),
            &keyward::db::models::api_key_list::KeyPage::OlderThan {
                limit: 1_000,
                cursor: None,
            },
        )
        .map(|k| k.page.rows)?
        .len())
    })
    .await
    .unwrap()
}

struct World {
    app: TestApp,
    tenant_id: String,
    person_id: String,
}

const ADA: &str = "ada@example.com";

async fn world(backend: Backend) -> World {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("acme").await;
    let person = app.create_person(ADA, &tenant.id, Role::User).await;
    World {
        app,
        tenant_id: tenant.id,
        person_id: person.id,
    }
}

// ---- first-run setup ----

async fn issue_setup_token(app: &TestApp) -> Option<String> {
    app.run(services::setup::issue_token).await.unwrap()
}

fn setup_form<'a>(token: &'a str, slug: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("token", token),
        ("tenant_name", "Acme Inc."),
        ("tenant_slug", slug),
        ("name", "Ada Lovelace"),
        ("email", "Ada@Example.com"),
        ("password", "a long enough password"),
    ]
}

async fn setup_works_once_with_the_printed_token_and_then_answers_404(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Two instances started before setup each print their own link; both work.
    let other_instance_token = issue_setup_token(&app).await.expect("setup is open");
    let token = issue_setup_token(&app).await.expect("setup is open");
    let browser = Browser::new(&app);
    let other = browser
        .get(&format!("/setup?token={other_instance_token}"))
        .await;
    assert_eq!(other.status(), 200);

    assert_eq!(browser.get("/setup").await.status(), 404, "no token");
    assert_eq!(
        browser.get("/setup?token=not-the-token").await.status(),
        404
    );
    let page = browser.get(&format!("/setup?token={token}")).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("id=\"setup-form\""));

    let res = browser.post("/setup", &setup_form(&token, "acme")).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/user/api-keys");
    let page = browser.get("/user/api-keys").await;
    assert_eq!(page.status(), 200, "the first admin is signed in");
    let html = page.text().await.unwrap();
    assert!(html.contains("Acme Inc."), "{html}");
    assert!(html.contains("/t/acme/team/members"), "an admin sees Team");

    // Once an account exists, setup is gone, whatever the token.
    let stranger = Browser::new(&app);
    assert_eq!(
        stranger
            .get(&format!("/setup?token={token}"))
            .await
            .status(),
        404
    );
    let again = stranger.post("/setup", &setup_form(&token, "other")).await;
    assert_eq!(again.status(), 404);
    assert!(
        issue_setup_token(&app).await.is_none(),
        "no new token either"
    );
    let tenants = app
        .run(|conn, _| Ok(services::tenants::find_by_slug(conn, "other").is_err()))
        .await
        .unwrap();
    assert!(tenants, "the second setup created nothing");
}

async fn setup_shows_field_errors_and_creates_nothing_for_bad_input(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = issue_setup_token(&app).await.unwrap();
    let browser = Browser::new(&app);
    let res = browser
        .post("/setup", &setup_form(&token, "Not A Slug"))
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("data-field-error=\"tenant_slug\""), "{html}");
    assert!(
        html.contains("value=\"Acme Inc.\""),
        "typed values are kept"
    );
    let open = app
        .run(|conn, _| services::setup::is_open(conn))
        .await
        .unwrap();
    assert!(open, "nothing was created");
    // The same link still works once the input is fixed.
    let res = browser.post("/setup", &setup_form(&token, "acme")).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

async fn a_setup_link_submitted_twice_at_once_sets_up_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = issue_setup_token(&app).await.unwrap();
    let (a, b) = (Browser::new(&app), Browser::new(&app));
    let form_a = setup_form(&token, "first");
    let form_b = setup_form(&token, "second");
    let (ra, rb) = tokio::join!(a.post("/setup", &form_a), b.post("/setup", &form_b));
    let statuses = [ra.status(), rb.status()];
    assert!(statuses.iter().all(|s| s.as_u16() < 500), "{statuses:?}");
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::SEE_OTHER)
            .count(),
        1,
        "{statuses:?}"
    );
    let made = app
        .run(|conn, _| {
            Ok([
                services::tenants::find_by_slug(conn, "first").is_ok(),
                services::tenants::find_by_slug(conn, "second").is_ok(),
            ])
        })
        .await
        .unwrap();
    assert_eq!(made.iter().filter(|m| **m).count(), 1, "{statuses:?}");
}

// ---- sign-in and sessions ----

async fn anonymous_pages_redirect_to_sign_in_and_htmx_gets_hx_redirect(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let browser = Browser::new(&app);
    let res = browser.get("/user/api-keys").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/login?next=%2Fuser%2Fapi-keys");
    let res = browser.get_hx("/user/api-keys").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(header(&res, "hx-redirect").starts_with("/login"));
    let res = browser.post("/user/api-keys", &[("name", "x")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/login");
}

async fn signing_in_and_out_ends_the_session_on_the_server(backend: Backend) {
    let w = world(backend).await;
    let browser = Browser::new(&w.app);
    let res = browser.sign_in_with(ADA, "not the password").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.text().await.unwrap().contains("id=\"login-error\""));

    let res = browser
        .post(
            "/login",
            &[
                ("email", "ADA@example.com"),
                ("password", PASSWORD),
                ("next", "/user/password"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&res),
        "/user/password",
        "back where they were going"
    );
    let cookie = browser.cookies();
    assert!(cookie.contains("keyward_session="), "{cookie}");
    assert_eq!(browser.get("/user/api-keys").await.status(), 200);
    assert_eq!(
        browser.get("/login").await.status(),
        StatusCode::SEE_OTHER,
        "signed-in people skip the sign-in page"
    );

    let csrf = browser.csrf_token().await;
    let res = browser.post("/logout", &[("csrf_token", &csrf)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(location(&res).starts_with("/login"));
    assert_eq!(
        browser.get("/user/api-keys").await.status(),
        StatusCode::SEE_OTHER
    );
    // The old cookie, replayed, finds no session: it ended on the server.
    let replay = get_with_cookie(&w.app, "/user/api-keys", &cookie).await;
    assert_eq!(replay.status(), StatusCode::SEE_OTHER);
    assert!(location(&replay).starts_with("/login"));
}

async fn signing_in_gives_a_new_session_id_and_ends_the_old_one(backend: Backend) {
    let w = world(backend).await;
    let browser = Browser::new(&w.app);
    let csrf = browser.sign_in(ADA).await;
    let first = browser.cookies();
    let res = browser
        .post(
            "/login",
            &[
                ("email", ADA),
                ("password", PASSWORD),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let second = browser.cookies();
    assert_ne!(first, second, "the session id changes at sign-in");
    assert_eq!(browser.get("/user/api-keys").await.status(), 200);
    let replay = get_with_cookie(&w.app, "/user/api-keys", &first).await;
    assert_eq!(replay.status(), StatusCode::SEE_OTHER, "the old id is dead");
}

async fn a_second_instance_on_the_same_database_shares_sessions_and_throttling(backend: Backend) {
    let w = world(backend).await;
    let mut settings = (*w.app.state.settings).clone();
    settings.bind = "127.0.0.1:0".into();
    let second = keyward::startup::Application::build(settings, w.app.clock.clone()).unwrap();
    let second_address = format!("http://127.0.0.1:{}", second.port());
    tokio::spawn(second.run_until_stopped());

    let one = Browser::new(&w.app);
    let csrf = one.sign_in(ADA).await;
    let cookie = one.cookies();
    let on_second = |path: &str| format!("{second_address}{path}");
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = plain
        .get(on_second("/user/api-keys"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the other instance knows the session");
    let res = plain
        .post(on_second("/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        one.get("/user/api-keys").await.status(),
        StatusCode::SEE_OTHER,
        "signing out on one instance ends the session on all"
    );

    for i in 0..5 {
        let url = if i % 2 == 0 {
            w.app.url("/login")
        } else {
            on_second("/login")
        };
        let res = plain
            .post(url)
            .form(&[("email", ADA), ("password", "wrong password")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = plain
        .post(on_second("/login"))
        .form(&[("email", ADA), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "failures on both instances count together"
    );
}

/// The `Set-Cookie` header that sets `name`.
fn set_cookie(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie set: {:?}", res.headers()))
        .to_string()
}

async fn session_cookie_is_http_only_and_lax_and_host_prefixed_behind_https(backend: Backend) {
    let w = world(backend).await;
    let res = Browser::new(&w.app).sign_in_with(ADA, PASSWORD).await;
    let cookie = set_cookie(&res, "keyward_session");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    assert!(!cookie.contains("Secure"), "plain-HTTP development");
    // The device cookie (issue 23.3): HttpOnly, Strict, kept for months.
    let device = set_cookie(&res, "keyward_device");
    for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(device.contains(part), "{part} missing: {device}");
    }

    let app = TestApp::spawn_with(backend, |s| {
        s.public_url = Some("https://keys.example.com".into())
    })
    .await;
    let tenant = app.create_tenant("acme").await;
    app.create_person(ADA, &tenant.id, Role::User).await;
    let res = Browser::new(&app).sign_in_with(ADA, PASSWORD).await;
    for name in ["__Host-keyward_session", "__Host-keyward_device"] {
        let cookie = set_cookie(&res, name);
        for part in ["Secure", "HttpOnly", "Path=/"] {
            assert!(cookie.contains(part), "{part} missing: {cookie}");
        }
        assert!(
            !cookie.contains("Domain="),
            "__Host- cookies name no domain"
        );
    }
    assert!(set_cookie(&res, "__Host-keyward_session").contains("SameSite=Lax"));
}

async fn sessions_end_after_the_idle_and_the_absolute_timeout(backend: Backend) {
    let w = world(backend).await;
    let browser = Browser::new(&w.app);
    browser.sign_in(ADA).await;
    w.app.clock.advance(Duration::minutes(119));
    assert_eq!(browser.get("/user/api-keys").await.status(), 200);
    w.app.clock.advance(Duration::minutes(121));
    assert_eq!(
        browser.get("/user/api-keys").await.status(),
        StatusCode::SEE_OTHER,
        "two idle hours end a session"
    );

    browser.sign_in(ADA).await;
    for _ in 0..11 {
        w.app.clock.advance(Duration::hours(1));
        assert_eq!(browser.get("/user/api-keys").await.status(), 200);
    }
    w.app.clock.advance(Duration::hours(1));
    assert_eq!(
        browser.get("/user/api-keys").await.status(),
        StatusCode::SEE_OTHER,
        "twelve hours end even a busy session"
    );
    // Timed-out sessions that nobody comes back to are swept at the next sign-in.
    let stale = Browser::new(&w.app);
    stale.sign_in(ADA).await;
    w.app.clock.advance(Duration::hours(3));
    assert_eq!(
        session_rows(&w.app).await,
        1,
        "the stale one is still stored"
    );
    browser.sign_in(ADA).await;
    assert_eq!(
        session_rows(&w.app).await,
        1,
        "only the fresh session is left"
    );
}

async fn session_rows(app: &TestApp) -> i64 {
    use diesel::prelude::*;
    app.run(|conn, _| {
        Ok(keyward::db::schema::sessions::table
            .count()
            .get_result::<i64>(conn)?)
    })
    .await
    .unwrap()
}

async fn five_failures_lock_an_email_and_address_for_fifteen_minutes(backend: Backend) {
    let w = world(backend).await;
    let browser = Browser::new(&w.app);
    for _ in 0..5 {
        let res = browser.sign_in_with(ADA, "wrong password").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = browser.sign_in_with(ADA, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let html = res.text().await.unwrap();
    assert!(html.contains("try again in 15 minutes"), "{html}");
    w.app.clock.advance(Duration::minutes(14));
    let res = browser.sign_in_with(ADA, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "still locked");
    w.app.clock.advance(Duration::minutes(1));
    let res = browser.sign_in_with(ADA, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "the lock lifted");
}

async fn unknown_emails_get_the_same_answer_as_wrong_passwords(backend: Backend) {
    let w = world(backend).await;
    let browser = Browser::new(&w.app);
    let known = browser.sign_in_with(ADA, "wrong password").await;
    let unknown = browser
        .sign_in_with("nobody@example.com", "wrong password")
        .await;
    assert_eq!(known.status(), unknown.status());
    let known = known.text().await.unwrap();
    let unknown = unknown.text().await.unwrap();
    let message = |html: &str| {
        let start = html.find("id=\"login-error\"").unwrap();
        html[start..start + 120].to_string()
    };
    assert_eq!(message(&known), message(&unknown));
    for _ in 0..4 {
        browser
            .sign_in_with("nobody@example.com", "wrong password")
            .await;
    }
    let res = browser
        .sign_in_with("nobody@example.com", "wrong password")
        .await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "unknown emails are throttled alike"
    );
}

async fn attempts_racing_each_other_get_no_more_than_five_guesses(backend: Backend) {
    let w = world(backend).await;
    let attempts: Vec<_> = (0..12)
        .map(|_| {
            let client = Browser::new(&w.app).client;
            let url = w.app.url("/login");
            tokio::spawn(async move {
                client
                    .post(url)
                    .form(&[("email", ADA), ("password", "a guess")])
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    let mut guesses = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            StatusCode::UNAUTHORIZED => guesses += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert!(guesses <= 5, "{guesses} guesses were checked");
    let res = Browser::new(&w.app).sign_in_with(ADA, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

async fn failures_from_one_address_do_not_lock_out_another(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]
    })
    .await;
    let tenant = app.create_tenant("acme").await;
    app.create_person(ADA, &tenant.id, Role::User).await;
    let attacker = Browser::with_address(&app, Some("203.0.113.9"));
    for _ in 0..6 {
        attacker.sign_in_with(ADA, "wrong password").await;
    }
    let res = attacker.sign_in_with(ADA, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let ada = Browser::with_address(&app, Some("198.51.100.7"));
    let res = ada.sign_in_with(ADA, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

// ---- CSRF, headers, assets ----

/// A concrete path for a route pattern: `{id}` becomes a real key id, `{slug}` the
/// tenant's slug, anything else a UUID.
fn concrete(path: &str, key_id: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').unwrap() + open;
        let name = &rest[open + 1..close];
        out.push_str(if name.contains("slug") {
            "acme"
        } else if name == "id" || name.contains("key") {
            key_id
        } else {
            "00000000-0000-4000-8000-000000000000"
        });
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

async fn every_state_changing_dashboard_route_refuses_a_missing_or_wrong_csrf_token(
    backend: Backend,
) {
    let w = world(backend).await;
    let (key_id, _) = w.app.create_key(&w.person_id, &w.tenant_id, None).await;
    let browser = Browser::new(&w.app);
    browser.sign_in(ADA).await;
    let routes: Vec<_> = keyward::web::routes::routes()
        .into_iter()
        .filter(|r| r.method != actix_web::http::Method::GET)
        .filter(|r| !keyward::web::routes::authenticates_by_key(&r.method, r.path))
        .collect();
    assert!(routes.len() >= 7, "the dashboard's forms are in the table");
    for route in routes {
        let path = concrete(route.path, &key_id);
        let method = reqwest::Method::from_bytes(route.method.as_str().as_bytes()).unwrap();
        let missing = browser
            .client
            .request(method.clone(), browser.url(&path))
            .form(&[("name", "x"), ("tenant_id", &w.tenant_id)])
            .send()
            .await
            .unwrap();
        assert_eq!(
            missing.status(),
            403,
            "{} {path} without a token",
            route.method
        );
        assert!(missing.text().await.unwrap().contains("security token"));
        let wrong = browser
            .client
            .request(method, browser.url(&path))
            .header("X-CSRF-Token", "not-the-token")
            .header("HX-Request", "true")
            .form(&[("csrf_token", "not-the-token-either")])
            .send()
            .await
            .unwrap();
        assert_eq!(
            wrong.status(),
            403,
            "{} {path} with a wrong token",
            route.method
        );
        assert_eq!(
            header(&wrong, "hx-retarget"),
            "#toasts",
            "htmx gets a toast"
        );
    }
    // Nothing happened: still signed in, the key is still there.
    assert_eq!(browser.get("/user/api-keys").await.status(), 200);
    assert_eq!(own_key_count(&w.app, &w.person_id).await, 1);
}

async fn csrf_token_is_accepted_from_the_header_that_htmx_sends(backend: Backend) {
    let w = world(backend).await;
    let (key_id, _) = w.app.create_key(&w.person_id, &w.tenant_id, None).await;
    let browser = Browser::new(&w.app);
    let csrf = browser.sign_in(ADA).await;
    let page = browser.get("/user/api-keys").await.text().await.unwrap();
    assert!(
        page.contains(&format!(
            "hx-headers:inherited='{{\"X-CSRF-Token\": \"{csrf}\"}}'"
        )),
        "the body hands the token to htmx"
    );
    let res = browser
        .client
        .post(browser.url(&format!("/user/api-keys/{key_id}/delete")))
        .header("HX-Request", "true")
        .header("X-CSRF-Token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(own_key_count(&w.app, &w.person_id).await, 0);
}

async fn forms_sent_from_another_site_are_refused_even_before_sign_in(backend: Backend) {
    let w = world(backend).await;
    let browser = Browser::new(&w.app);
    let form = [("email", ADA), ("password", PASSWORD)];
    let forged = browser
        .client
        .post(browser.url("/login"))
        .header("Origin", "https://evil.example")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert!(browser.cookies().is_empty(), "no session was started");
    let own = browser
        .client
        .post(browser.url("/login"))
        .header("Origin", w.app.address.as_str())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        own.status(),
        StatusCode::SEE_OTHER,
        "the site's own form works"
    );
    let csrf = browser.csrf_token().await;
    let forged = browser
        .client
        .post(browser.url("/logout"))
        .header("Origin", "null")
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403, "even with the right token");
}

async fn pages_carry_the_security_headers(backend: Backend) {
    let w = world(backend).await;
    let browser = Browser::new(&w.app);
    for res in [
        browser.get("/login").await,
        browser.get("/user/api-keys").await,
        browser.get("/nowhere").await,
    ] {
        let csp = header(&res, "content-security-policy");
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_eq!(header(&res, "x-content-type-options"), "nosniff");
        assert!(!header(&res, "referrer-policy").is_empty());
    }
    let html = browser.get("/login").await.text().await.unwrap();
    assert!(!html.contains("<script>"), "no inline script");
    assert!(!html.contains(" onclick="), "no inline handlers");
}

async fn vendored_assets_are_served_with_long_cache_headers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let login = app
        .client
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for path in [
        "/static/vendor/htmx-4.0.1.min.js",
        "/static/vendor/pico-2.1.1.min.css",
    ] {
        assert!(login.contains(path), "the layout uses {path}");
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(header(&res, "cache-control").contains("max-age=31536000"));
        assert!(header(&res, "cache-control").contains("immutable"));
    }
    let js = app
        .client
        .get(app.url("/static/keyward.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), 200);
    assert!(header(&js, "content-type").starts_with("text/javascript"));
    let missing = app
        .client
        .get(app.url("/static/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

// ---- User › API Keys ----

async fn creating_with_bad_input_shows_field_errors_and_stores_nothing(backend: Backend) {
    let w = world(backend).await;
    let other = w.app.create_tenant("other").await;
    let browser = Browser::new(&w.app);
    browser.sign_in(ADA).await;
    let (csrf, nonce) = browser.open_create_form().await;
    let long_name = "k".repeat(101);
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("name", ""), ("expiration", "never")], "name"),
        (vec![("name", "   "), ("expiration", "never")], "name"),
        (vec![("name", &long_name), ("expiration", "never")], "name"),
        (
            vec![
                ("name", "ci"),
                ("expiration", "date"),
                ("expires_on", "2001-01-01"),
            ],
            "expires_at",
        ),
        (
            vec![
                ("name", "ci"),
                ("expiration", "date"),
                ("expires_on", "not a date"),
            ],
            "expires_at",
        ),
        (vec![("name", "ci"), ("expiration", "12")], "expires_at"),
    ];
    for (fields, field) in cases {
        for hx in [false, true] {
            let mut form = fields.clone();
            form.extend([
                ("csrf_token", csrf.as_str()),
                ("nonce", nonce.as_str()),
                ("tenant_id", w.tenant_id.as_str()),
            ]);
            let res = if hx {
                browser.post_hx("/user/api-keys", &form).await
            } else {
                browser.post("/user/api-keys", &form).await
            };
            assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{form:?}");
            let html = res.text().await.unwrap();
            assert!(
                html.contains(&format!("data-field-error=\"{field}\"")),
                "{field} error for {form:?}: {html}"
            );
            assert_eq!(html.contains("<html"), !hx, "htmx gets the dialog only");
            assert!(html.contains(&nonce), "the form keeps its nonce");
        }
    }
    // An edited form naming a tenant the person does not belong to.
    for tenant in [other.id.as_str(), "not-a-uuid", ""] {
        let res = browser
            .post(
                "/user/api-keys",
                &[
                    ("csrf_token", &csrf),
                    ("nonce", &nonce),
                    ("name", "ci"),
                    ("expiration", "30"),
                    ("tenant_id", tenant),
                ],
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{tenant}");
        let html = res.text().await.unwrap();
        assert!(html.contains("data-field-error=\"tenant_id\""), "{html}");
    }
    assert_eq!(own_key_count(&w.app, &w.person_id).await, 0);
    // The same form still works once fixed: its nonce was not used up.
    let res = browser
        .post(
            "/user/api-keys",
            &[
                ("csrf_token", &csrf),
                ("nonce", &nonce),
                ("name", "ci"),
                ("expiration", "date"),
                ("expires_on", "2099-12-31"),
                ("tenant_id", &w.tenant_id),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(own_key_count(&w.app, &w.person_id).await, 1);
}

async fn a_new_key_is_shown_exactly_once_and_a_resubmitted_form_creates_nothing(backend: Backend) {
    let w = world(backend).await;
    let browser = Browser::new(&w.app);
    browser.sign_in(ADA).await;
    let (csrf, nonce) = browser.open_create_form().await;
    let form = [
        ("csrf_token", csrf.as_str()),
        ("nonce", nonce.as_str()),
        ("name", "deploy bot"),
        ("expiration", "7"),
        ("tenant_id", w.tenant_id.as_str()),
    ];
    let res = browser.post("/user/api-keys", &form).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "cache-control"), "no-store");
    let html = res.text().await.unwrap();
    assert!(html.contains("<html"), "a plain POST gets the whole page");
    let token = input_value(&html, "new_api_key")
        .or_else(|| {
            let start = html.find("id=\"new-api-key\" value=\"")? + 24;
            Some(html[start..start + 40].to_string())
        })
        .unwrap();
    assert!(token.starts_with("kwu_"), "{token}");
    assert!(html.contains("will not be shown again"));
    assert!(html.contains("id=\"copy-api-key\""));

    // The key works, and is bound to its tenant.
    let whoami = w.app.get_with_key("/api/whoami", &token).await;
    assert_eq!(whoami.status(), 200);

    // Reloading shows the key in the list, never its secret.
    let list = browser.get("/user/api-keys").await.text().await.unwrap();
    assert!(list.contains("deploy bot"));
    assert!(!list.contains(&token), "the secret is shown once");
    assert!(
        list.contains(&token[token.len() - 4..]),
        "the hint is listed"
    );

    // The browser resubmits the same form: nothing more is created.
    let again = browser.post("/user/api-keys", &form).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let again = again.text().await.unwrap();
    assert!(!again.contains("kwu_"), "{again}");
    assert_eq!(own_key_count(&w.app, &w.person_id).await, 1);
}

async fn the_create_dialog_works_over_htmx_and_refreshes_the_list(backend: Backend) {
    let w = world(backend).await;
    let browser = Browser::new(&w.app);
    browser.sign_in(ADA).await;
    let dialog = browser.get_hx("/user/api-keys/new").await;
    assert_eq!(dialog.status(), 200);
    let html = dialog.text().await.unwrap();
    assert!(!html.contains("<html"), "only the dialog's content");
    assert!(html.contains("id=\"create-api-key-form\""));
    assert!(html.contains("hx-target=\"#dialog-body\""));
    for choice in ["never", "7", "30", "90", "date"] {
        assert!(html.contains(&format!("<option value=\"{choice}\"")));
    }
    assert!(
        html.contains(&format!("<option value=\"{}\" selected>", w.tenant_id)),
        "the current tenant is chosen"
    );
    let csrf = input_value(&html, "csrf_token").unwrap();
    let nonce = input_value(&html, "nonce").unwrap();
    let form = [
        ("nonce", nonce.as_str()),
        ("name", "laptop"),
        ("expiration", "never"),
        ("tenant_id", w.tenant_id.as_str()),
    ];
    let res = browser
        .client
        .post(browser.url("/user/api-keys"))
        .header("HX-Request", "true")
        .header("X-CSRF-Token", &csrf)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "cache-control"), "no-store");
    assert_eq!(header(&res, "hx-trigger"), "api-keys-changed");
    let html = res.text().await.unwrap();
    assert!(!html.contains("<html"));
    assert!(html.contains("id=\"api-key-created\"") && html.contains("kwu_"));

    let list = browser.get_hx("/user/api-keys").await.text().await.unwrap();
    assert!(list.starts_with("<section id=\"api-keys\""), "{list}");
    assert!(list.contains("laptop") && list.contains("Never"));
    let again = browser
        .client
        .post(browser.url("/user/api-keys"))
        .header("HX-Request", "true")
        .header("X-CSRF-Token", &csrf)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(header(&again, "hx-retarget"), "#toasts");
    assert_eq!(own_key_count(&w.app, &w.person_id).await, 1);
}

async fn one_form_posted_twice_at_the_same_instant_creates_one_key(backend: Backend) {
    let w = world(backend).await;
    let browser = Browser::new(&w.app);
    browser.sign_in(ADA).await;
    let (csrf, nonce) = browser.open_create_form().await;
    let form = [
        ("csrf_token", csrf.as_str()),
        ("nonce", nonce.as_str()),
        ("name", "double click"),
        ("expiration", "never"),
        ("tenant_id", w.tenant_id.as_str()),
    ];
    let (a, b) = tokio::join!(
        browser.post("/user/api-keys", &form),
        browser.post("/user/api-keys", &form)
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 409]);
    assert_eq!(own_key_count(&w.app, &w.person_id).await, 1);
}

async fn deleting_a_key_over_htmx_removes_its_row_and_says_so(backend: Backend) {
    let w = world(backend).await;
    let (key_id, secret) = w.app.create_key(&w.person_id, &w.tenant_id, None).await;
    let (kept_id, _) = w.app.create_key(&w.person_id, &w.tenant_id, None).await;
    let browser = Browser::new(&w.app);
    let csrf = browser.sign_in(ADA).await;
    let list = browser.get("/user/api-keys").await.text().await.unwrap();
    assert!(list.contains(&format!("id=\"api-key-{key_id}\"")));
    assert!(list.contains(&format!("hx-get=\"/user/api-keys/{key_id}/delete\"")));

    let confirm = browser
        .get_hx(&format!("/user/api-keys/{key_id}/delete"))
        .await;
    assert_eq!(confirm.status(), 200);
    let html = confirm.text().await.unwrap();
    assert!(
        html.contains("id=\"delete-api-key-name\">test key</strong>"),
        "{html}"
    );
    assert!(!html.contains("<html"));

    let res = browser
        .post_hx(
            &format!("/user/api-keys/{key_id}/delete"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.starts_with("<section id=\"api-keys\""));
    assert!(
        !html.contains(&format!("api-key-{key_id}")),
        "the row is gone"
    );
    assert!(
        html.contains(&format!("api-key-{kept_id}")),
        "the other stays"
    );
    assert!(html.contains("hx-swap-oob=\"beforeend\"") && html.contains("Deleted the API key"));
    assert_eq!(
        w.app.get_with_key("/api/whoami", &secret).await.status(),
        401,
        "the deleted key stops working at once"
    );
    let again = browser
        .post_hx(
            &format!("/user/api-keys/{key_id}/delete"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(again.status(), 404);
    assert_eq!(header(&again, "hx-retarget"), "#toasts");
}

async fn deleting_a_key_with_a_plain_form_redirects_with_a_message(backend: Backend) {
    let w = world(backend).await;
    let (key_id, _) = w.app.create_key(&w.person_id, &w.tenant_id, None).await;
    let browser = Browser::new(&w.app);
    browser.sign_in(ADA).await;
    let confirm = browser
        .get(&format!("/user/api-keys/{key_id}/delete"))
        .await
        .text()
        .await
        .unwrap();
    assert!(confirm.contains("<html") && confirm.contains("id=\"delete-api-key-form\""));
    let csrf = input_value(&confirm, "csrf_token").unwrap();
    let res = browser
        .post(
            &format!("/user/api-keys/{key_id}/delete"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/user/api-keys");
    let page = browser.get("/user/api-keys").await.text().await.unwrap();
    assert!(page.contains("Deleted the API key “test key”."));
    assert!(page.contains("id=\"no-api-keys\""));
    let later = browser.get("/user/api-keys").await.text().await.unwrap();
    assert!(
        !later.contains("Deleted the API key"),
        "the message shows once"
    );
}

async fn another_persons_key_cannot_be_deleted(backend: Backend) {
    let w = world(backend).await;
    let bob = w
        .app
        .create_person("bob@example.com", &w.tenant_id, Role::Admin)
        .await;
    let (bobs_key, _) = w.app.create_key(&bob.id, &w.tenant_id, None).await;
    let browser = Browser::new(&w.app);
    let csrf = browser.sign_in(ADA).await;
    let page = browser
        .get(&format!("/user/api-keys/{bobs_key}/delete"))
        .await;
    assert_eq!(page.status(), 404);
    let res = browser
        .post(
            &format!("/user/api-keys/{bobs_key}/delete"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 404);
    assert!(res.text().await.unwrap().contains("API key not found"));
    assert_eq!(own_key_count(&w.app, &bob.id).await, 1);
}

async fn a_form_that_cannot_be_read_gets_a_clear_error_page(backend: Backend) {
    let w = world(backend).await;
    let browser = Browser::new(&w.app);
    let csrf = browser.sign_in(ADA).await;
    let res = browser
        .client
        .post(browser.url("/user/api-keys"))
        .header("X-CSRF-Token", &csrf)
        .json(&serde_json::json!({ "name": "ci" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"error-message\"") && html.contains("could not be read"));
    assert_eq!(own_key_count(&w.app, &w.person_id).await, 0);
}

async fn the_same_route_answers_htmx_with_a_partial_and_browsers_with_the_page(backend: Backend) {
    let w = world(backend).await;
    let browser = Browser::new(&w.app);
    browser.sign_in(ADA).await;
    for path in ["/user/api-keys", "/user/api-keys/new"] {
        let page = browser.get(path).await;
        assert!(header(&page, "vary").contains("HX-Request"));
        assert!(page.text().await.unwrap().contains("<html"), "{path}");
        let partial = browser.get_hx(path).await;
        assert!(header(&partial, "vary").contains("HX-Request"));
        assert!(!partial.text().await.unwrap().contains("<html"), "{path}");
        let restore = browser
            .client
            .get(browser.url(path))
            .header("HX-Request", "true")
            .header("HX-History-Restore-Request", "true")
            .send()
            .await
            .unwrap();
        assert!(restore.text().await.unwrap().contains("<html"), "{path}");
    }
    // On the whole page the create form posts plainly: its htmx target is the dialog.
    let page = browser
        .get("/user/api-keys/new")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("<article class=\"narrow\" hx-ignore>"));
    let dialog = browser
        .get_hx("/user/api-keys/new")
        .await
        .text()
        .await
        .unwrap();
    assert!(!dialog.contains("hx-ignore"));
}

async fn the_list_shows_tenant_expiry_and_last_use_as_people_read_them(backend: Backend) {
    let w = world(backend).await;
    let now = w.app.clock.now();
    let (soon, _) = w
        .app
        .create_key(&w.person_id, &w.tenant_id, Some(now + Duration::hours(1)))
        .await;
    let (later, later_secret) = w
        .app
        .create_key(&w.person_id, &w.tenant_id, Some(now + Duration::days(10)))
        .await;
    let (never, _) = w.app.create_key(&w.person_id, &w.tenant_id, None).await;
    w.app.clock.advance(Duration::hours(2));
    assert_eq!(
        w.app
            .get_with_key("/api/whoami", &later_secret)
            .await
            .status(),
        200
    );
    w.app.clock.advance(Duration::hours(3));
    let browser = Browser::new(&w.app);
    browser.sign_in(ADA).await;
    let html = browser.get_hx("/user/api-keys").await.text().await.unwrap();
    let row = |id: &str| {
        let start = html.find(&format!("<tr id=\"api-key-{id}\"")).unwrap();
        let end = html[start..].find("</tr>").unwrap() + start;
        html[start..end].to_string()
    };
    let soon_row = row(&soon);
    assert!(soon_row.contains("data-expired") && soon_row.contains(">Expired</mark>"));
    assert!(soon_row.contains("Tenant acme"), "{soon_row}");
    let later_row = row(&later);
    assert!(later_row.contains("(in 9 days)"), "{later_row}");
    assert!(later_row.contains("3 hours ago"), "{later_row}");
    let never_row = row(&never);
    assert!(
        never_row.contains("data-never-expires") && never_row.contains(">Never</mark></td>"),
        "a key without expiry is flagged: {never_row}"
    );
    assert!(
        never_row.contains("<td data-col=\"last-used\">Never</td>"),
        "{never_row}"
    );
}

// ---- nav, tenants, roles ----

async fn team_links_follow_the_current_tenant_and_the_role_read_on_each_request(backend: Backend) {
    let w = world(backend).await;
    let ops = w.app.create_tenant("ops").await;
    w.app.add_member(&w.person_id, &ops.id, Role::Admin).await;
    let browser = Browser::new(&w.app);
    let csrf = browser.sign_in(ADA).await;
    // Acme comes first by name: a plain user there.
    let page = browser.get("/user/api-keys").await.text().await.unwrap();
    assert!(page.contains("id=\"nav-api-keys\""));
    assert!(!page.contains("id=\"nav-team"), "no Team links for a user");
    let res = browser
        .post("/tenant", &[("csrf_token", &csrf), ("tenant_id", &ops.id)])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = browser.get("/user/api-keys").await.text().await.unwrap();
    assert!(page.contains("href=\"/t/ops/team/service-accounts\""));
    assert!(page.contains("href=\"/t/ops/team/members\""));
    assert!(page.contains("href=\"/t/ops/team/audit-log\""));
    // Demoted behind the session's back: the next page knows.
    let (person, tenant) = (w.person_id.clone(), ops.id.clone());
    w.app
        .run(move |conn, _| {
            keyward::db::models::Membership::set_role(conn, &person, &tenant, Role::User)?;
            Ok(())
        })
        .await
        .unwrap();
    let page = browser.get("/user/api-keys").await.text().await.unwrap();
    assert!(!page.contains("id=\"nav-team"));
}

async fn the_tenant_switcher_accepts_only_your_tenants(backend: Backend) {
    let w = world(backend).await;
    let other = w.app.create_tenant("other").await;
    let browser = Browser::new(&w.app);
    let csrf = browser.sign_in(ADA).await;
    let res = browser
        .post(
            "/tenant",
            &[("csrf_token", &csrf), ("tenant_id", &other.id)],
        )
        .await;
    assert_eq!(res.status(), 403);
    let res = browser
        .post("/tenant", &[("csrf_token", &csrf), ("tenant_id", "junk")])
        .await;
    assert_eq!(res.status(), 400);
}

async fn changing_the_password_ends_the_other_sessions(backend: Backend) {
    let w = world(backend).await;
    let laptop = Browser::new(&w.app);
    let phone = Browser::new(&w.app);
    let csrf = laptop.sign_in(ADA).await;
    phone.sign_in(ADA).await;
    let before = laptop.cookies();
    let new_password = "a brand new passphrase";
    let res = laptop
        .post(
            "/user/password",
            &[
                ("csrf_token", &csrf),
                ("current_password", PASSWORD),
                ("new_password", new_password),
                ("new_password_again", new_password),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = laptop.get("/user/password").await;
    assert_eq!(page.status(), 200, "this session goes on");
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("other sessions have been signed out"));
    assert_ne!(laptop.cookies(), before, "under a new id");
    assert_eq!(
        phone.get("/user/api-keys").await.status(),
        StatusCode::SEE_OTHER,
        "the other session ended"
    );
    let fresh = Browser::new(&w.app);
    assert_eq!(fresh.sign_in_with(ADA, PASSWORD).await.status(), 401);
    assert_eq!(
        fresh.sign_in_with(ADA, new_password).await.status(),
        StatusCode::SEE_OTHER
    );
}

async fn a_wrong_current_password_changes_nothing(backend: Backend) {
    let w = world(backend).await;
    let browser = Browser::new(&w.app);
    let csrf = browser.sign_in(ADA).await;
    let cases = [
        (
            "not my password",
            "a brand new passphrase",
            "a brand new passphrase",
            "current_password",
        ),
        (PASSWORD, "short", "short", "new_password"),
        (
            PASSWORD,
            "a brand new passphrase",
            "another passphrase",
            "new_password_again",
        ),
    ];
    for (current, new, again, field) in cases {
        let res = browser
            .post(
                "/user/password",
                &[
                    ("csrf_token", csrf.as_str()),
                    ("current_password", current),
                    ("new_password", new),
                    ("new_password_again", again),
                ],
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = res.text().await.unwrap();
        assert!(
            html.contains(&format!("data-field-error=\"{field}\"")),
            "{html}"
        );
    }
    let fresh = Browser::new(&w.app);
    assert_eq!(
        fresh.sign_in_with(ADA, PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
}

async fn removing_an_account_from_every_tenant_keeps_it_signed_in_without_tenants(
    backend: Backend,
) {
    let w = world(backend).await;
    let admin = w
        .app
        .create_person("root@example.com", &w.tenant_id, Role::Admin)
        .await;
    let browser = Browser::new(&w.app);
    browser.sign_in(ADA).await;
    let (tenant, person, admin_id) = (w.tenant_id.clone(), w.person_id.clone(), admin.id);
    w.app
        .run(move |conn, now| {
            services::members::remove_member(
                conn,
                &Actor::person(admin_id, None, keyward::services::SingleSignOn::Satisfied),
                now,
                &TenantId::from_stored(&tenant),
                &AccountId::from_stored(&person),
            )?;
            Ok(())
        })
        .await
        .unwrap();
    let page = browser.get("/user/api-keys").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(!html.contains("id=\"tenant-switcher\""), "no tenants left");
    assert!(!html.contains("Tenant acme"));
    let (csrf, nonce) = browser.open_create_form().await;
    let res = browser
        .post(
            "/user/api-keys",
            &[
                ("csrf_token", csrf.as_str()),
                ("nonce", nonce.as_str()),
                ("name", "ci"),
                ("tenant_id", w.tenant_id.as_str()),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("you belong to no tenant yet"), "{html}");
    assert_eq!(own_key_count(&w.app, &w.person_id).await, 0);
}

// ---- the second newcomer pass (issue 31) ----

/// The row of key `id` in a key list's HTML.
fn key_row(html: &str, id: &str) -> String {
    let start = html
        .find(&format!("<tr id=\"api-key-{id}\""))
        .unwrap_or_else(|| panic!("no row for {id}: {html}"));
    let end = html[start..].find("</tr>").unwrap() + start;
    html[start..end].to_string()
}

async fn last_used_names_the_client_briefly_with_the_whole_user_agent_in_a_tooltip(
    backend: Backend,
) {
    let w = world(backend).await;
    let (key, secret) = w.app.create_key(&w.person_id, &w.tenant_id, None).await;
    // A browser's user agent padded to 280 characters (stored capped at 200).
    let browser_ua = format!(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 {}",
        "x".repeat(280 - 102)
    );
    assert_eq!(browser_ua.chars().count(), 280);
    let browser = Browser::new(&w.app);
    browser.sign_in(ADA).await;
    // One client after the other. Each is written off the request, best effort (a busy
    // database skips it); a call a minute later is written again.
    let mut row = String::new();
    for (seen, ua) in [browser_ua.as_str(), "curl/7.88.1"].into_iter().enumerate() {
        row = crate::support::eventually("the client on the key's row", || {
            let (app, browser, key, secret) = (&w.app, &browser, key.clone(), secret.clone());
            async move {
                let html = browser.get("/user/api-keys").await.text().await.unwrap();
                let row = key_row(&html, &key);
                if row.matches("data-key-client").count() == seen + 1 {
                    return Some(row);
                }
                app.clock.advance(Duration::seconds(61));
                let res = app
                    .client
                    .get(app.url("/api/whoami"))
                    .bearer_auth(&secret)
                    .header("User-Agent", ua)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200);
                None
            }
        })
        .await;
    }
    assert!(
        row.contains(">Chrome on Linux from 127.0.0.1, last seen"),
        "{row}"
    );
    assert!(
        row.contains(">curl 7.88 from 127.0.0.1, last seen"),
        "{row}"
    );
    assert!(row.contains("title=\"curl/7.88.1\""), "{row}");
    // The whole (stored) user agent is only in the tooltip, never printed as text.
    let stored: String = browser_ua.chars().take(200).collect();
    assert_eq!(row.matches(&stored).count(), 1, "{row}");
    assert!(row.contains(&format!("title=\"{stored}\"")), "{row}");
    assert!(
        !row.contains(&browser_ua),
        "the 280 characters are never printed whole"
    );
}

async fn team_and_user_shortcuts_redirect_and_keep_their_query_string(backend: Backend) {
    let w = world(backend).await;
    let browser = Browser::new(&w.app);
    browser.sign_in(ADA).await;
    for (from, to) in [
        (
            "/team/audit-log?q=laptop&action=api_key.created",
            "/t/acme/team/audit-log?q=laptop&action=api_key.created",
        ),
        ("/team/members", "/t/acme/team/members"),
        ("/team", "/t/acme/team/service-accounts"),
        ("/user", "/user/api-keys"),
        ("/t/acme", "/t/acme/team/service-accounts"),
        ("/t/acme/team", "/t/acme/team/service-accounts"),
    ] {
        let res = browser.get(from).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{from}");
        assert_eq!(location(&res), to, "{from}");
    }
    // A tenant the person is not in says nothing about whether it exists.
    w.app.create_tenant("other").await;
    assert_eq!(
        browser.get("/t/other").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        browser.get("/t/nowhere").await.status(),
        StatusCode::FORBIDDEN
    );
    // Signed out, they lead to sign-in like every page.
    let anonymous = Browser::new(&w.app);
    for path in ["/team", "/user", "/t/acme"] {
        let res = anonymous.get(path).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
        assert!(location(&res).starts_with("/login"), "{path}");
    }
}

async fn expiring_soon_is_one_rule_for_the_badge_the_filter_the_banner_and_graphql(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("acme").await.id;
    let ada = app.create_person(ADA, &tenant, Role::Admin).await.id;
    let now = app.clock.now();
    // Made a moment ago for exactly 7 days: reads "in 7 days", not flagged.
    let (seven, _) = app
        .create_key(&ada, &tenant, Some(now + Duration::days(7)))
        .await;
    let (six, _) = app
        .create_key(&ada, &tenant, Some(now + Duration::days(6)))
        .await;
    let (later, _) = app
        .create_key(&ada, &tenant, Some(now + Duration::days(30)))
        .await;
    // A rotated key with an hour left stops soon too.
    let (rotating, rotating_secret) = app
        .create_key(&ada, &tenant, Some(now + Duration::days(30)))
        .await;
    let rotated = app
        .graphql(
            Some(&rotating_secret),
            "mutation($id: UUID!) { rotate_api_key(input: { key_id: $id, overlap_hours: 1 }) { id } }",
            serde_json::json!({ "id": rotating }),
            &[],
        )
        .await;
    assert!(rotated["errors"].is_null(), "{rotated}");
    let expiring = app
        .graphql(
            Some(&rotating_secret),
            "{ expiring_api_keys { id expiring_soon } }",
            serde_json::Value::Null,
            &[],
        )
        .await;
    let mut ids: Vec<String> = expiring["data"]["expiring_api_keys"]
        .as_array()
        .unwrap_or_else(|| panic!("{expiring}"))
        .iter()
        .map(|k| {
            assert_eq!(k["expiring_soon"], true, "{expiring}");
            k["id"].as_str().unwrap().to_string()
        })
        .collect();
    ids.sort();
    let mut want = vec![six.clone(), rotating.clone()];
    want.sort();
    assert_eq!(ids, want, "GraphQL: {expiring}");

    let browser = Browser::new(&app);
    browser.sign_in(ADA).await;
    let html = browser.get("/user/api-keys").await.text().await.unwrap();
    assert!(key_row(&html, &six).contains("data-expiring-soon"));
    assert!(!key_row(&html, &seven).contains("data-expiring-soon"));
    assert!(key_row(&html, &seven).contains("(in 7 days)"));
    assert!(!key_row(&html, &later).contains("data-expiring-soon"));
    let rotating_row = key_row(&html, &rotating);
    assert!(
        rotating_row.contains("data-rotating") && !rotating_row.contains("data-expiring-soon"),
        "one badge for a rotating key: {rotating_row}"
    );
    assert!(
        html.contains("2 keys you manage expire within 7 days"),
        "the banner counts the same two: {html}"
    );
    let filtered = browser
        .get("/user/api-keys?filter=expiring")
        .await
        .text()
        .await
        .unwrap();
    let rows = filtered.matches("<tr id=\"api-key-").count();
    assert_eq!(rows, 2, "the filter shows the same two: {filtered}");
    assert!(
        filtered.contains(&format!("api-key-{six}"))
            && filtered.contains(&format!("api-key-{rotating}"))
    );
}
