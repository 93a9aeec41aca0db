//! Issue 27: two-factor sign-in. Enrolment with an authenticator code (computed here from
//! the secret the page shows, with the app's clock), recovery codes, the code step of
//! sign-in with replay protection and a lock, turning it off, the operator's reset, and
//! tenants that require it. The secret never reaches the database in clear.

use crate::backend_tests;
use crate::support::browser::{input_value, location, Browser};
use crate::support::{dump_database, run_keyward, Backend, TestApp, PASSWORD};
use keyward::domain::Role;
use time::{Duration, PrimitiveDateTime};

backend_tests!(
    enrolling_with_an_authenticator_code_turns_two_factor_on_and_shows_ten_recovery_codes_once,
    the_password_alone_leads_to_a_code_form_where_a_wrong_code_is_refused_the_right_one_signs_in_and_a_replay_is_refused,
    a_recovery_code_works_exactly_once,
    ten_wrong_codes_lock_the_code_step_for_the_account,
    device_cookies_earned_before_enrolment_give_no_extra_code_guesses,
    turning_two_factor_on_and_new_recovery_codes_need_the_password_and_end_other_sessions,
    a_pending_sign_in_opens_no_other_page_and_expires_after_five_minutes,
    turning_two_factor_off_needs_the_password_and_a_code,
    an_operator_resets_two_factor_for_a_person_who_lost_their_device,
    a_tenant_that_requires_two_factor_sends_members_without_it_to_enrol_first,
    the_secret_and_the_recovery_codes_are_not_stored_in_clear,
    after_the_server_secret_changes_the_previous_one_still_opens_two_factor_until_it_is_resealed,
    a_server_without_the_previous_secret_says_so_and_counts_no_guess,
    a_password_change_or_signing_out_ends_pending_sign_ins,
    a_right_code_does_not_lower_the_count_of_wrong_ones,
    a_waiting_enrolment_secret_is_replaced_after_fifteen_minutes,
    racing_requests_for_new_recovery_codes_leave_ten,
    the_code_form_works_in_a_browser_that_holds_another_session,
);

const ADA: &str = "ada@example.com";

/// The code an authenticator with `secret` (base32) shows at `now`.
pub(crate) fn code_at(secret: &str, now: PrimitiveDateTime) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret).expect("a base32 secret");
    let totp = totp_rs::Builder::new()
        .with_secret(secret.as_bytes().to_vec())
        .build()
        .expect("an RFC 6238 authenticator");
    totp.generate(now.assume_utc().unix_timestamp() as u64)
        .to_string()
}

/// The text of `<code id="{id}">…</code>`.
fn code_element(html: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\">");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('<')? + start;
    Some(html[start..end].to_string())
}

fn recovery_codes(html: &str) -> Vec<String> {
    html.split("<code class=\"recovery-code\">")
        .skip(1)
        .filter_map(|rest| rest.split('<').next().map(str::to_string))
        .collect()
}

struct World {
    app: TestApp,
    tenant_id: String,
    ada_id: String,
}

async fn world(backend: Backend) -> World {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_tenant("acme").await;
    let ada = app.create_person(ADA, &acme.id, Role::Admin).await;
    World {
        app,
        tenant_id: acme.id,
        ada_id: ada.id,
    }
}

/// Signs `browser` in as Ada (password only) and turns two-factor on; the secret and the
/// recovery codes. The clock then moves on a step, so the enrolment's code is spent.
async fn enrol(app: &TestApp, browser: &Browser) -> (String, Vec<String>) {
    enrol_as(app, browser, ADA).await
}

/// `enrol` for the person with `email`.
pub(crate) async fn enrol_as(
    app: &TestApp,
    browser: &Browser,
    email: &str,
) -> (String, Vec<String>) {
    let csrf = browser.sign_in(email).await;
    let page = browser.text("/user/two-factor").await;
    let secret = code_element(&page, "two-factor-secret").expect("the secret as text");
    let code = code_at(&secret, app.clock.now());
    let res = browser
        .post(
            "/user/two-factor/enable",
            &[
                ("csrf_token", csrf.as_str()),
                ("password", PASSWORD),
                ("code", code.as_str()),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let codes = recovery_codes(&res.text().await.unwrap());
    assert_eq!(codes.len(), 10);
    app.clock.advance(Duration::seconds(30));
    (secret, codes)
}

/// The password step in a new browser: it must lead to the code form.
async fn password_step(app: &TestApp) -> Browser {
    let browser = Browser::new(app);
    let res = browser.sign_in_with(ADA, PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/login/two-factor");
    browser
}

async fn submit_code(browser: &Browser, code: &str) -> reqwest::Response {
    browser.post("/login/two-factor", &[("code", code)]).await
}

async fn audited(app: &TestApp, tenant_id: &str, action: &str) -> Vec<String> {
    let (tenant_id, action) = (tenant_id.to_string(), action.to_string());
    app.run(move |conn, _| {
        use diesel::prelude::*;
        use keyward::db::schema::audit_events::dsl as a;
        Ok(a::audit_events
            .filter(a::tenant_id.eq(tenant_id))
            .filter(a::action.eq(action))
            .order(a::at.asc())
            .select(a::detail)
            .load::<String>(conn)?)
    })
    .await
    .unwrap()
}

async fn enrolling_with_an_authenticator_code_turns_two_factor_on_and_shows_ten_recovery_codes_once(
    backend: Backend,
) {
    let w = world(backend).await;
    let browser = Browser::new(&w.app);
    let csrf = browser.sign_in(ADA).await;
    let page = browser.text("/user/two-factor").await;
    assert!(page.contains("<svg"), "a QR code rendered on the server");
    let secret = code_element(&page, "two-factor-secret").unwrap();
    assert!(
        page.contains("otpauth://totp/Keyward:ada%40example.com?"),
        "{page}"
    );
    assert!(page.contains("issuer=Keyward"));
    assert!(page.contains(&format!("secret={secret}")));
    assert_eq!(
        code_element(&browser.text("/user/two-factor").await, "two-factor-secret").unwrap(),
        secret,
        "a reload shows the same waiting secret"
    );
    // A wrong code turns nothing on.
    let right = code_at(&secret, w.app.clock.now());
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let res = browser
        .post(
            "/user/two-factor/enable",
            &[
                ("csrf_token", csrf.as_str()),
                ("password", PASSWORD),
                ("code", wrong),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("is not the code"));
    let res = browser
        .post(
            "/user/two-factor/enable",
            &[
                ("csrf_token", csrf.as_str()),
                ("password", PASSWORD),
                ("code", right.as_str()),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers().get("cache-control").unwrap(),
        "no-store",
        "recovery codes are not cached"
    );
    let codes = recovery_codes(&res.text().await.unwrap());
    assert_eq!(codes.len(), 10);
    for code in &codes {
        let (a, b) = code.split_once('-').expect("abcde-12345");
        assert_eq!((a.len(), b.len()), (5, 5), "{code}");
    }
    let later = browser.text("/user/two-factor").await;
    assert!(later.contains("Two-factor authentication is on"));
    assert!(later.contains("id=\"recovery-codes-left\">10<"));
    assert!(recovery_codes(&later).is_empty(), "shown once");
    assert!(!later.contains(&secret), "the secret is not shown again");
    // New codes void the old ones.
    let res = browser
        .post(
            "/user/two-factor/recovery-codes",
            &[("csrf_token", csrf.as_str()), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), 200);
    let fresh = recovery_codes(&res.text().await.unwrap());
    assert_eq!(fresh.len(), 10);
    assert!(fresh.iter().all(|c| !codes.contains(c)));
    w.app.clock.advance(Duration::seconds(30));
    let b = password_step(&w.app).await;
    assert_eq!(
        submit_code(&b, &codes[0]).await.status(),
        401,
        "an old code"
    );
    assert_eq!(submit_code(&b, &fresh[0]).await.status(), 303, "a new one");
    assert_eq!(
        audited(&w.app, &w.tenant_id, "two_factor.enabled")
            .await
            .len(),
        1
    );
    assert_eq!(
        audited(
            &w.app,
            &w.tenant_id,
            "two_factor.recovery_codes_regenerated"
        )
        .await
        .len(),
        1
    );
}

async fn the_password_alone_leads_to_a_code_form_where_a_wrong_code_is_refused_the_right_one_signs_in_and_a_replay_is_refused(
    backend: Backend,
) {
    let w = world(backend).await;
    let (secret, _) = enrol(&w.app, &Browser::new(&w.app)).await;
    let browser = Browser::new(&w.app);
    let res = browser
        .post(
            "/login",
            &[
                ("email", ADA),
                ("password", PASSWORD),
                ("next", "/user/password"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/login/two-factor");
    let form = browser.get("/login/two-factor").await;
    assert_eq!(form.status(), 200);
    assert!(form.text().await.unwrap().contains("id=\"login-code\""));
    let right = code_at(&secret, w.app.clock.now());
    let wrong = if right == "123456" {
        "654321"
    } else {
        "123456"
    };
    let res = submit_code(&browser, wrong).await;
    assert_eq!(res.status(), 401);
    assert!(res.text().await.unwrap().contains("The code is not right"));
    assert_eq!(
        browser.get("/user/api-keys").await.status(),
        303,
        "not signed in"
    );
    let res = submit_code(&browser, &right).await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        location(&res),
        "/user/password",
        "on to where they were going"
    );
    assert_eq!(browser.get("/user/api-keys").await.status(), 200);
    // The same code a second time, after the password again: refused (RFC 6238 §5.2).
    let again = password_step(&w.app).await;
    let res = submit_code(&again, &right).await;
    assert_eq!(res.status(), 401);
    assert_eq!(again.get("/user/api-keys").await.status(), 303);
    // The next step's code works.
    w.app.clock.advance(Duration::seconds(30));
    let next = code_at(&secret, w.app.clock.now());
    assert_eq!(submit_code(&again, &next).await.status(), 303);
    assert_eq!(again.get("/user/api-keys").await.status(), 200);
    // Every outcome is in the audit log.
    assert_eq!(
        audited(&w.app, &w.tenant_id, "sign_in.code_required")
            .await
            .len(),
        2
    );
    let failed = audited(&w.app, &w.tenant_id, "sign_in.code_failed").await;
    assert_eq!(
        failed,
        vec![
            "wrong authenticator code".to_string(),
            "authenticator code already used".to_string()
        ]
    );
    let succeeded = audited(&w.app, &w.tenant_id, "sign_in.succeeded").await;
    assert_eq!(
        succeeded
            .iter()
            .filter(|d| d.contains("authenticator code"))
            .count(),
        2
    );
}

async fn a_recovery_code_works_exactly_once(backend: Backend) {
    let w = world(backend).await;
    let (_, codes) = enrol(&w.app, &Browser::new(&w.app)).await;
    let first = password_step(&w.app).await;
    // Typed in capitals with a space: still the code.
    let typed = codes[3].to_uppercase().replace('-', " ");
    assert_eq!(submit_code(&first, &typed).await.status(), 303);
    assert_eq!(first.get("/user/api-keys").await.status(), 200);
    let page = first.text("/user/two-factor").await;
    assert!(page.contains("id=\"recovery-codes-left\">9<"));
    let second = password_step(&w.app).await;
    assert_eq!(submit_code(&second, &codes[3]).await.status(), 401);
    assert_eq!(second.get("/user/api-keys").await.status(), 303);
    let detail = audited(&w.app, &w.tenant_id, "sign_in.succeeded").await;
    assert!(
        detail.iter().any(|d| d.contains("recovery code (9 left)")),
        "{detail:?}"
    );
}

async fn ten_wrong_codes_lock_the_code_step_for_the_account(backend: Backend) {
    let w = world(backend).await;
    let (secret, _) = enrol(&w.app, &Browser::new(&w.app)).await;
    let browser = password_step(&w.app).await;
    let right = code_at(&secret, w.app.clock.now());
    let wrong = if right == "111111" {
        "222222"
    } else {
        "111111"
    };
    for i in 0..10 {
        assert_eq!(
            submit_code(&browser, wrong).await.status(),
            401,
            "wrong code {i}"
        );
    }
    let res = submit_code(&browser, &right).await;
    assert_eq!(res.status(), 429, "locked, even for the right code");
    assert!(res.text().await.unwrap().contains("Too many wrong codes"));
    // Another pending sign-in of the same account is locked too.
    let other = password_step(&w.app).await;
    assert_eq!(submit_code(&other, &right).await.status(), 429);
    assert_eq!(
        audited(&w.app, &w.tenant_id, "sign_in.code_refused")
            .await
            .len(),
        1,
        "the lock's refusals are audited once"
    );
    // After the lock the right code (of the new step) gets in.
    w.app.clock.advance(Duration::minutes(16));
    let later = password_step(&w.app).await;
    let code = code_at(&secret, w.app.clock.now());
    assert_eq!(submit_code(&later, &code).await.status(), 303);
}

/// H1: device cookies are earned by the password alone, so someone with the password
/// could mint many while two-factor is off; code guesses count against the account
/// whatever cookie comes with them.
async fn device_cookies_earned_before_enrolment_give_no_extra_code_guesses(backend: Backend) {
    let w = world(backend).await;
    let mut browsers = Vec::new();
    for _ in 0..3 {
        let b = Browser::new(&w.app);
        assert_eq!(b.sign_in_with(ADA, PASSWORD).await.status(), 303);
        assert!(b.cookies().contains("device"), "{}", b.cookies());
        let csrf = b.csrf_token().await;
        let res = b.post("/logout", &[("csrf_token", csrf.as_str())]).await;
        assert_eq!(res.status(), 303);
        assert!(b.cookies().contains("device"), "kept after signing out");
        browsers.push(b);
    }
    let (secret, _) = enrol(&w.app, &Browser::new(&w.app)).await;
    let right = code_at(&secret, w.app.clock.now());
    let wrong = if right == "111111" {
        "222222"
    } else {
        "111111"
    };
    for b in &browsers {
        let res = b.sign_in_with(ADA, PASSWORD).await;
        assert_eq!(location(&res), "/login/two-factor");
    }
    for i in 0..10 {
        let b = &browsers[i % 3];
        assert_eq!(submit_code(b, wrong).await.status(), 401, "wrong code {i}");
    }
    for b in &browsers {
        assert_eq!(
            submit_code(b, &right).await.status(),
            429,
            "ten wrong codes lock the account, whichever device cookies came with them"
        );
    }
}

/// M1: a stolen session alone neither enrols the thief's authenticator nor makes new
/// recovery codes; turning two-factor on ends every other session of the account.
async fn turning_two_factor_on_and_new_recovery_codes_need_the_password_and_end_other_sessions(
    backend: Backend,
) {
    let w = world(backend).await;
    let other = Browser::new(&w.app);
    other.sign_in(ADA).await;
    let browser = Browser::new(&w.app);
    let csrf = browser.sign_in(ADA).await;
    let page = browser.text("/user/two-factor").await;
    assert!(page.contains("id=\"two-factor-enable-password\""));
    let secret = code_element(&page, "two-factor-secret").unwrap();
    let code = code_at(&secret, w.app.clock.now());
    let enable = |password: &'static str| {
        let (browser, csrf, code) = (&browser, csrf.clone(), code.clone());
        async move {
            browser
                .post(
                    "/user/two-factor/enable",
                    &[
                        ("csrf_token", csrf.as_str()),
                        ("password", password),
                        ("code", code.as_str()),
                    ],
                )
                .await
        }
    };
    let res = enable("").await;
    assert_eq!(res.status(), 422, "no password");
    assert!(res.text().await.unwrap().contains("enter your password"));
    let res = enable("not the password").await;
    assert_eq!(res.status(), 422, "a wrong password");
    assert!(res.text().await.unwrap().contains("is not your password"));
    assert!(browser
        .text("/user/two-factor")
        .await
        .contains("Turn on two-factor"));
    assert_eq!(
        audited(&w.app, &w.tenant_id, "two_factor.enable_refused")
            .await
            .len(),
        1
    );
    let res = enable(PASSWORD).await;
    assert_eq!(res.status(), 200);
    assert_eq!(recovery_codes(&res.text().await.unwrap()).len(), 10);
    // This session goes on; the account's other one (maybe a thief's) has ended.
    assert_eq!(browser.get("/user/api-keys").await.status(), 200);
    assert_eq!(other.get("/user/api-keys").await.status(), 303);
    let regenerate = |password: &'static str| {
        let (browser, csrf) = (&browser, csrf.clone());
        async move {
            browser
                .post(
                    "/user/two-factor/recovery-codes",
                    &[("csrf_token", csrf.as_str()), ("password", password)],
                )
                .await
        }
    };
    let res = regenerate("").await;
    assert_eq!(res.status(), 422, "no password");
    let res = regenerate("not the password").await;
    assert_eq!(res.status(), 422, "a wrong password");
    let page = res.text().await.unwrap();
    assert!(page.contains("is not your password"));
    assert!(recovery_codes(&page).is_empty());
    assert!(browser
        .text("/user/two-factor")
        .await
        .contains("id=\"recovery-codes-left\">10<"));
    let res = regenerate(PASSWORD).await;
    assert_eq!(res.status(), 200);
    assert_eq!(recovery_codes(&res.text().await.unwrap()).len(), 10);
}

async fn a_pending_sign_in_opens_no_other_page_and_expires_after_five_minutes(backend: Backend) {
    let w = world(backend).await;
    let (secret, _) = enrol(&w.app, &Browser::new(&w.app)).await;
    let browser = password_step(&w.app).await;
    for path in ["/user/api-keys", "/user/two-factor", "/t/acme/team/members"] {
        let res = browser.get(path).await;
        assert_eq!(res.status(), 303, "{path}");
        assert!(location(&res).starts_with("/login"), "{path}");
    }
    // GraphQL and the API take keys only: the pending cookie is nothing there.
    let res = browser.get("/api/whoami").await;
    assert_eq!(res.status(), 401);
    w.app.clock.advance(Duration::minutes(5));
    let code = code_at(&secret, w.app.clock.now());
    let res = submit_code(&browser, &code).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/login?expired=1", "back to the password");
    assert_eq!(browser.get("/user/api-keys").await.status(), 303);
    assert_eq!(
        location(&browser.get("/login/two-factor").await),
        "/login?expired=1"
    );
}

async fn turning_two_factor_off_needs_the_password_and_a_code(backend: Backend) {
    let w = world(backend).await;
    let (secret, codes) = enrol(&w.app, &Browser::new(&w.app)).await;
    let browser = password_step(&w.app).await;
    let code = code_at(&secret, w.app.clock.now());
    assert_eq!(submit_code(&browser, &code).await.status(), 303);
    let page = browser.text("/user/two-factor").await;
    let csrf = input_value(&page, "csrf_token").unwrap();
    w.app.clock.advance(Duration::seconds(30));
    let code = code_at(&secret, w.app.clock.now());
    let disable = |password: &'static str, code: String| {
        let (browser, csrf) = (&browser, csrf.clone());
        async move {
            browser
                .post(
                    "/user/two-factor/disable",
                    &[
                        ("csrf_token", csrf.as_str()),
                        ("password", password),
                        ("code", code.as_str()),
                    ],
                )
                .await
        }
    };
    let res = disable("not the password", code.clone()).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("is not your password"));
    let wrong = if code == "000000" { "999999" } else { "000000" };
    let res = disable(PASSWORD, wrong.to_string()).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("the code is not right"));
    let res = disable(PASSWORD, String::new()).await;
    assert_eq!(res.status(), 422, "no code");
    assert!(browser
        .text("/user/two-factor")
        .await
        .contains("Two-factor authentication is on"));
    assert_eq!(
        audited(&w.app, &w.tenant_id, "two_factor.disable_refused")
            .await
            .len(),
        2
    );
    // A recovery code does as well as an authenticator code.
    let res = disable(PASSWORD, codes[0].clone()).await;
    assert_eq!(res.status(), 303);
    assert!(browser
        .text("/user/two-factor")
        .await
        .contains("Turn on two-factor"));
    let fresh = Browser::new(&w.app);
    assert_eq!(fresh.sign_in_with(ADA, PASSWORD).await.status(), 303);
    assert_eq!(
        fresh.get("/user/api-keys").await.status(),
        200,
        "password only"
    );
    assert_eq!(
        audited(&w.app, &w.tenant_id, "two_factor.disabled")
            .await
            .len(),
        1
    );
}

async fn an_operator_resets_two_factor_for_a_person_who_lost_their_device(backend: Backend) {
    let w = world(backend).await;
    enrol(&w.app, &Browser::new(&w.app)).await;
    let url = w.app.db.url.clone();
    let run = |email: &'static str| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            run_keyward(
                &[
                    "admin",
                    "--database-url",
                    &url,
                    "reset-two-factor",
                    "--email",
                    email,
                ],
                "",
            )
        })
    };
    let (code, out, err) = run("ADA@example.com").await.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("two-factor authentication is off for ada@example.com"));
    let fresh = Browser::new(&w.app);
    let res = fresh.sign_in_with(ADA, PASSWORD).await;
    assert_eq!(location(&res), "/user/api-keys", "no code asked any more");
    let events = audited(&w.app, &w.tenant_id, "two_factor.reset").await;
    assert_eq!(events.len(), 1);
    let (code, _, err) = run("ADA@example.com").await.unwrap();
    assert_ne!(code, 0);
    assert!(err.contains("not on for ada@example.com"), "{err}");
    let (code, _, err) = run("nobody@example.com").await.unwrap();
    assert_ne!(code, 0);
    assert!(err.contains("no account has the email"), "{err}");
    let ada = w.ada_id.clone();
    let actor = w
        .app
        .run(move |conn, _| {
            use diesel::prelude::*;
            use keyward::db::schema::audit_events::dsl as a;
            Ok(a::audit_events
                .filter(a::action.eq("two_factor.reset"))
                .filter(a::target_id.eq(ada))
                .select(a::actor_id)
                .first::<Option<String>>(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(actor, None, "audited as the operator");
}

async fn a_tenant_that_requires_two_factor_sends_members_without_it_to_enrol_first(
    backend: Backend,
) {
    let w = world(backend).await;
    let bob = w
        .app
        .create_person("bob@example.com", &w.tenant_id, Role::User)
        .await;
    let (_, bob_key) = w.app.create_key(&bob.id, &w.tenant_id, None).await;
    // Ada (admin) turns it on for herself, then requires it in Team › Settings.
    let admin = Browser::new(&w.app);
    let (secret, _) = enrol(&w.app, &admin).await;
    let settings = admin.text("/t/acme/team/settings").await;
    assert!(settings.contains("id=\"require-two-factor\""));
    let csrf = input_value(&settings, "csrf_token").unwrap();
    let res = admin
        .post(
            "/t/acme/team/settings/two-factor",
            &[("csrf_token", csrf.as_str()), ("require_two_factor", "on")],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert!(admin
        .text("/t/acme/team/settings")
        .await
        .contains("name=\"require_two_factor\" checked"));
    assert_eq!(
        audited(
            &w.app,
            &w.tenant_id,
            "tenant.two_factor_requirement_changed"
        )
        .await
        .len(),
        1
    );
    // Members shows who has it on.
    let members = admin.text("/t/acme/team/members").await;
    let row = |id: &str| {
        let start = members.find(&format!("id=\"member-{id}\"")).unwrap();
        members[start..].split("</tr>").next().unwrap().to_string()
    };
    assert!(row(&w.ada_id).contains("data-two-factor=\"on\""));
    assert!(row(&bob.id).contains("data-two-factor=\"off\""));
    // Bob, without it, is sent to enrol before any dashboard page, his other tenant's
    // too (User › API Keys acts on all of them).
    let globex = w.app.create_tenant("globex").await;
    w.app.add_member(&bob.id, &globex.id, Role::Admin).await;
    let b = Browser::new(&w.app);
    b.sign_in_with("bob@example.com", PASSWORD).await;
    for path in [
        "/user/api-keys",
        "/user/password",
        "/t/acme/team/members",
        "/t/globex/team/members",
    ] {
        let res = b.get(path).await;
        assert_eq!(res.status(), 303, "{path}");
        assert_eq!(location(&res), "/user/two-factor?required=acme", "{path}");
    }
    let page = b.text("/user/two-factor?required=acme").await;
    assert!(page.contains("id=\"two-factor-required\""));
    // His API key is not affected: two-factor guards the dashboard.
    assert_eq!(
        w.app.get_with_key("/api/whoami", &bob_key).await.status(),
        200
    );
    // Once enrolled, the pages open.
    let secret_b = code_element(&page, "two-factor-secret").unwrap();
    let csrf_b = input_value(&page, "csrf_token").unwrap();
    let code = code_at(&secret_b, w.app.clock.now());
    let res = b
        .post(
            "/user/two-factor/enable",
            &[
                ("csrf_token", csrf_b.as_str()),
                ("password", PASSWORD),
                ("code", code.as_str()),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(b.get("/user/api-keys").await.status(), 200);
    // The same through GraphQL with Ada's key: read, then lift the requirement.
    let (_, ada_key) = w.app.create_key(&w.ada_id, &w.tenant_id, None).await;
    let answer = w
        .app
        .graphql(
            Some(&ada_key),
            "{ tenant_two_factor_requirement { required } members { user_id two_factor_enabled } }",
            serde_json::json!({}),
            &[],
        )
        .await;
    assert_eq!(
        answer["data"]["tenant_two_factor_requirement"]["required"],
        true
    );
    let on: Vec<bool> = answer["data"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["two_factor_enabled"].as_bool().unwrap())
        .collect();
    assert_eq!(on, vec![true, true], "{answer}");
    let answer = w
        .app
        .graphql(
            Some(&bob_key),
            "mutation { set_tenant_two_factor_required(input: { required: false }) { required } }",
            serde_json::json!({}),
            &[],
        )
        .await;
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{answer}"
    );
    let answer = w
        .app
        .graphql(
            Some(&ada_key),
            "mutation { set_tenant_two_factor_required(input: { required: false }) { required } }",
            serde_json::json!({}),
            &[],
        )
        .await;
    assert_eq!(
        answer["data"]["set_tenant_two_factor_required"]["required"], false,
        "{answer}"
    );
    let _ = secret;
}

async fn the_secret_and_the_recovery_codes_are_not_stored_in_clear(backend: Backend) {
    let w = world(backend).await;
    let (secret, codes) = enrol(&w.app, &Browser::new(&w.app)).await;
    let ada = w.ada_id.clone();
    let (sealed, version) = w
        .app
        .run(move |conn, _| {
            use diesel::prelude::*;
            use keyward::db::schema::two_factor::dsl as t;
            Ok(t::two_factor
                .filter(t::account_id.eq(ada))
                .select((t::secret_sealed, t::key_version))
                .first::<(String, String)>(conn)?)
        })
        .await
        .unwrap();
    assert!(version.starts_with("v1."), "{version}");
    let raw = totp_rs::Secret::try_from_base32(&secret).unwrap();
    let raw = raw.as_bytes();
    let dump = dump_database(&w.app).await;
    assert!(!dump.contains(&secret), "the base32 secret");
    assert!(!dump.contains(&hex::encode(raw)), "the secret in hex");
    assert!(!sealed.contains(&secret));
    for code in &codes {
        assert!(!dump.contains(code.as_str()), "a recovery code");
    }
}

async fn after_the_server_secret_changes_the_previous_one_still_opens_two_factor_until_it_is_resealed(
    backend: Backend,
) {
    use keyward::config::SessionSecret;
    let w = world(backend).await;
    let (secret, codes) = enrol(&w.app, &Browser::new(&w.app)).await;
    let old = w.app.state.settings.session_secret.clone();
    let new = SessionSecret::generate();
    let kept = new.clone();
    let rotated = w.app.another_instance(move |s| {
        s.session_secret = Some(kept);
        s.previous_session_secret = old;
    });
    let version_of_row = || {
        let ada = w.ada_id.clone();
        w.app.run(move |conn, _| {
            use diesel::prelude::*;
            use keyward::db::schema::two_factor::dsl as t;
            Ok(t::two_factor
                .filter(t::account_id.eq(ada))
                .select(t::key_version)
                .first::<String>(conn)?)
        })
    };
    let before = version_of_row().await.unwrap();
    assert_eq!(before, w.app.state.sealing_keys.version());
    assert_ne!(before, rotated.state.sealing_keys.version());
    // A recovery code made under the old secret works on the rotated server.
    let b = password_step(&rotated).await;
    assert_eq!(submit_code(&b, &codes[0]).await.status(), 303);
    // So does an authenticator code; the secret is then sealed under the new key.
    rotated.clock.advance(Duration::seconds(90));
    let b = password_step(&rotated).await;
    let code = code_at(&secret, rotated.clock.now());
    assert_eq!(submit_code(&b, &code).await.status(), 303);
    assert_eq!(
        version_of_row().await.unwrap(),
        rotated.state.sealing_keys.version()
    );
    // A server with only the new secret now opens it.
    let kept = new.clone();
    let only_new = w
        .app
        .another_instance(move |s| s.session_secret = Some(kept));
    only_new.clock.advance(Duration::seconds(150));
    let b = password_step(&only_new).await;
    let code = code_at(&secret, only_new.clock.now());
    assert_eq!(submit_code(&b, &code).await.status(), 303);
}

/// M2: the server secret changed without KEYWARD_PREVIOUS_SESSION_SECRET: no code can be
/// checked. The code step says why (503, not a 500) and counts no wrong guess, so the
/// person is not locked out for the operator's mistake.
async fn a_server_without_the_previous_secret_says_so_and_counts_no_guess(backend: Backend) {
    use keyward::config::SessionSecret;
    let w = world(backend).await;
    let (secret, codes) = enrol(&w.app, &Browser::new(&w.app)).await;
    let other = SessionSecret::generate();
    let changed = w
        .app
        .another_instance(move |s| s.session_secret = Some(other));
    changed.clock.advance(Duration::seconds(30));
    let b = password_step(&changed).await;
    for _ in 0..12 {
        let code = code_at(&secret, changed.clock.now());
        for code in [code.as_str(), codes[0].as_str()] {
            let res = submit_code(&b, code).await;
            assert_eq!(res.status(), 503);
            let text = res.text().await.unwrap();
            assert!(
                text.contains("the server secret changed (KEYWARD_PREVIOUS_SESSION_SECRET)"),
                "{text}"
            );
        }
    }
    let counted = changed
        .run(|conn, _| {
            use diesel::prelude::*;
            use keyward::db::schema::sign_in_failures::dsl as f;
            Ok(f::sign_in_failures
                .filter(f::purpose.eq("two_factor"))
                .count()
                .get_result::<i64>(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(counted, 0, "no code was counted as a guess");
    // The server with the secret still signs Ada in.
    w.app.clock.advance(Duration::seconds(30));
    let b = password_step(&w.app).await;
    let code = code_at(&secret, w.app.clock.now());
    assert_eq!(submit_code(&b, &code).await.status(), 303);
}

/// L2: a pending sign-in does not outlive a password change (its password is no longer
/// right) nor signing out in its browser.
async fn a_password_change_or_signing_out_ends_pending_sign_ins(backend: Backend) {
    let w = world(backend).await;
    let (secret, _) = enrol(&w.app, &Browser::new(&w.app)).await;
    let waiting = password_step(&w.app).await;
    let owner = password_step(&w.app).await;
    let code = code_at(&secret, w.app.clock.now());
    assert_eq!(submit_code(&owner, &code).await.status(), 303);
    let csrf = owner.csrf_token().await;
    let new_password = "a quite different passphrase 42";
    let res = owner
        .post(
            "/user/password",
            &[
                ("csrf_token", csrf.as_str()),
                ("current_password", PASSWORD),
                ("new_password", new_password),
                ("new_password_again", new_password),
            ],
        )
        .await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    w.app.clock.advance(Duration::seconds(30));
    let code = code_at(&secret, w.app.clock.now());
    let res = submit_code(&waiting, &code).await;
    assert_eq!(
        location(&res),
        "/login?expired=1",
        "the old password's sign-in"
    );
    assert_eq!(waiting.get("/user/api-keys").await.status(), 303);
    // Signing out in a browser whose code is still to come ends its pending sign-in.
    let leaving = Browser::new(&w.app);
    let res = leaving.sign_in_with(ADA, new_password).await;
    assert_eq!(location(&res), "/login/two-factor");
    let res = leaving.post("/logout", &[]).await;
    assert_eq!(res.status(), 303);
    assert!(
        !leaving.cookies().contains("pending_sign_in"),
        "{}",
        leaving.cookies()
    );
    let still = w
        .app
        .run(|conn, _| {
            use diesel::prelude::*;
            use keyward::db::schema::pending_sign_ins::dsl as p;
            Ok(p::pending_sign_ins.count().get_result::<i64>(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(still, 0);
}

/// L1: a right code forgets nothing: the wrong ones before it still count against the
/// account (only the account is limited, so clearing its address group's failures would
/// hand an attacker a fresh allowance whenever the owner signs in).
async fn a_right_code_does_not_lower_the_count_of_wrong_ones(backend: Backend) {
    let w = world(backend).await;
    let (secret, _) = enrol(&w.app, &Browser::new(&w.app)).await;
    let b = password_step(&w.app).await;
    let right = code_at(&secret, w.app.clock.now());
    let wrong = if right == "111111" {
        "222222"
    } else {
        "111111"
    };
    for i in 0..9 {
        assert_eq!(submit_code(&b, wrong).await.status(), 401, "wrong code {i}");
    }
    assert_eq!(submit_code(&b, &right).await.status(), 303);
    w.app.clock.advance(Duration::seconds(30));
    let b = password_step(&w.app).await;
    assert_eq!(submit_code(&b, wrong).await.status(), 401, "the tenth");
    let code = code_at(&secret, w.app.clock.now());
    assert_eq!(
        submit_code(&b, &code).await.status(),
        429,
        "ten wrong codes within 15 minutes, a right one between them"
    );
}

/// L3: the secret shown for enrolment is not good for ever: after 15 minutes opening the
/// page shows a new one, and the old one's code turns nothing on.
async fn a_waiting_enrolment_secret_is_replaced_after_fifteen_minutes(backend: Backend) {
    let w = world(backend).await;
    let browser = Browser::new(&w.app);
    let csrf = browser.sign_in(ADA).await;
    let first = code_element(&browser.text("/user/two-factor").await, "two-factor-secret");
    w.app.clock.advance(Duration::minutes(14));
    let same = code_element(&browser.text("/user/two-factor").await, "two-factor-secret");
    assert_eq!(same, first, "still waiting");
    w.app.clock.advance(Duration::minutes(2));
    let fresh = code_element(&browser.text("/user/two-factor").await, "two-factor-secret");
    assert_ne!(fresh, first, "replaced");
    let old_code = code_at(&first.unwrap(), w.app.clock.now());
    let new_code = code_at(fresh.as_deref().unwrap(), w.app.clock.now());
    if old_code != new_code {
        let res = browser
            .post(
                "/user/two-factor/enable",
                &[
                    ("csrf_token", csrf.as_str()),
                    ("password", PASSWORD),
                    ("code", old_code.as_str()),
                ],
            )
            .await;
        assert_eq!(res.status(), 422, "the old secret's code");
    }
}

/// L4: two requests for new recovery codes at once leave ten valid codes, not twenty.
async fn racing_requests_for_new_recovery_codes_leave_ten(backend: Backend) {
    let w = world(backend).await;
    let browser = Browser::new(&w.app);
    enrol(&w.app, &browser).await;
    let csrf = browser.csrf_token().await;
    let form = [("csrf_token", csrf.as_str()), ("password", PASSWORD)];
    let post = || browser.post("/user/two-factor/recovery-codes", &form);
    for _ in 0..3 {
        let (a, b) = tokio::join!(post(), post());
        assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
        let ada = w.ada_id.clone();
        let unused = w
            .app
            .run(move |conn, _| {
                use diesel::prelude::*;
                use keyward::db::schema::two_factor_recovery_codes::dsl as r;
                Ok(r::two_factor_recovery_codes
                    .filter(r::account_id.eq(ada))
                    .filter(r::used_at.is_null())
                    .count()
                    .get_result::<i64>(conn)?)
            })
            .await
            .unwrap();
        assert_eq!(unused, 10);
    }
}

/// L5: a browser that still holds a session (here Bob's, signed in after Ada's password)
/// sends the code form with that session's CSRF token, so the code is not refused (403).
async fn the_code_form_works_in_a_browser_that_holds_another_session(backend: Backend) {
    let w = world(backend).await;
    w.app
        .create_person("bob@example.com", &w.tenant_id, Role::User)
        .await;
    let (secret, _) = enrol(&w.app, &Browser::new(&w.app)).await;
    let browser = password_step(&w.app).await;
    let pending = browser.cookies();
    // Bob signs in in the same browser (the password step kept no session).
    assert_eq!(
        browser
            .sign_in_with("bob@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    assert!(pending.contains("pending_sign_in") && browser.cookies().contains("pending_sign_in"));
    let form = browser.text("/login/two-factor").await;
    let csrf = input_value(&form, "csrf_token").expect("the session's CSRF token in the form");
    let code = code_at(&secret, w.app.clock.now());
    let res = browser
        .post(
            "/login/two-factor",
            &[("csrf_token", csrf.as_str()), ("code", code.as_str())],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(browser.get("/user/api-keys").await.status(), 200);
}
