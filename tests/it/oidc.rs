//! Single sign-on with OpenID Connect against a real provider (panva's `oidc-provider`,
//! `tests/oidc/provider.mjs`): the Authorization Code flow with PKCE as a browser goes
//! through it, and every way it must fail. `cargo test -- oidc` runs them all.

use crate::backend_tests;
use crate::support::browser::{input_value, Browser};
use crate::support::oidc::{Provider, CLIENT_ID, CLIENT_SECRET};
use crate::support::{client, Backend, TestApp, PASSWORD};
use keyward::config::{OidcClientSecret, OidcSettings};
use keyward::domain::{Role, TenantSlug};
use serde_json::json;

backend_tests!(
    oidc_a_first_sign_in_makes_an_account_in_an_allowed_domain_and_later_ones_follow_the_sub,
    oidc_a_forged_replayed_or_foreign_callback_signs_nobody_in,
    oidc_id_tokens_with_a_wrong_nonce_issuer_or_expiry_are_refused,
    oidc_unverified_emails_and_domains_not_allowed_get_no_account,
    oidc_an_account_whose_email_keyward_never_verified_is_linked_only_with_its_password,
    oidc_an_account_whose_email_keyward_verified_is_linked_at_the_first_sign_in,
    oidc_a_key_rotation_at_the_provider_is_followed,
    oidc_with_the_provider_down_the_server_starts_and_passwords_still_work,
    oidc_a_tenant_that_requires_single_sign_on_takes_passwords_away_from_its_members,
    oidc_requiring_single_sign_on_is_refused_while_it_is_not_set_up,
    oidc_a_provider_session_older_than_the_session_hours_ends,
    oidc_an_operator_lists_and_removes_an_accounts_links,
    oidc_a_person_sees_and_removes_their_own_links_only,
    oidc_sign_ins_started_from_one_address_are_limited,
    oidc_racing_starts_from_one_address_stay_within_its_limit,
    oidc_the_owner_is_mailed_when_an_identity_is_linked_to_their_account,
    oidc_a_removed_link_is_made_again_only_with_the_password,
    oidc_a_full_table_of_sign_ins_evicts_the_oldest_of_the_address_with_the_most,
    oidc_the_last_link_kept_in_a_requiring_tenant_is_the_one_to_the_configured_provider,
    oidc_a_recovery_code_is_not_spent_on_a_link_that_is_refused,
    oidc_a_database_that_does_not_answer_is_not_blamed_on_the_provider,
    oidc_a_password_session_neither_sees_nor_changes_its_keys_of_a_requiring_tenant,
    oidc_joining_a_requiring_tenant_through_an_invitation_needs_a_session_through_the_provider,
    oidc_a_provider_session_past_the_session_hours_keeps_the_persons_other_tenant,
    oidc_the_link_step_and_the_sign_in_share_the_lock_of_wrong_two_factor_codes,
    oidc_a_start_without_a_client_address_is_refused_with_a_clear_error,
    oidc_a_member_with_two_factor_links_with_password_and_code_and_keeps_the_last_link_in_a_requiring_tenant,
    oidc_after_a_mailed_password_reset_a_link_needs_the_password_again,
    oidc_a_provider_session_signed_in_before_a_link_removal_ends_at_its_next_request,
    oidc_a_first_sign_in_refused_halfway_leaves_no_account,
    oidc_link_removals_at_once_are_all_recorded,
    oidc_a_password_session_is_not_warned_of_its_expiring_keys_of_a_requiring_tenant,
);

/// A password set through a mailed reset link.
const NEW_PASSWORD: &str = "a brand new passphrase";

/// A provider and a Keyward that trusts it, with its callback under the real address.
struct World {
    provider: Provider,
    app: TestApp,
}

pub(crate) fn settings(issuer: &str, public_url: &str) -> OidcSettings {
    OidcSettings {
        issuer: issuer.to_string(),
        client_id: CLIENT_ID.into(),
        client_secret: OidcClientSecret::new(CLIENT_SECRET),
        display_name: "Test IdP".into(),
        redirect_url: format!("{public_url}/sign-in/oidc/callback"),
        allowed_domains: vec!["example.com".into()],
        default_tenant: None,
        default_role: Role::User,
        trust_unverified_email: false,
        session_hours: 12,
        max_flows: keyward::config::MAX_FLOWS_IN_PROGRESS,
    }
}

async fn world(backend: Backend, customize: impl FnOnce(&mut OidcSettings)) -> Option<World> {
    world_with(backend, customize, |_| {}).await
}

/// A world whose server settings `more` changes too (mail, proxies).
async fn world_with(
    backend: Backend,
    customize: impl FnOnce(&mut OidcSettings),
    more: impl FnOnce(&mut keyward::config::Settings),
) -> Option<World> {
    let provider = Provider::start(None)?;
    // Bound now and handed to the server: a port chosen here and bound later could be
    // taken meanwhile by another test (CI failed so: "Address already in use").
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let public_url = format!("http://127.0.0.1:{port}");
    provider.register(&public_url).await;
    let mut oidc = settings(&provider.issuer, &public_url);
    customize(&mut oidc);
    let app = TestApp::spawn_on(backend, listener, |s| {
        s.public_url = Some(public_url.clone());
        s.oidc = Some(oidc);
        more(s);
    })
    .await;
    Some(World { provider, app })
}

/// What a browser does: Keyward's button, the provider's sign-in as `sub`, back to the
/// callback. The browser (its cookies) and the callback's answer.
async fn through_the_provider(w: &World, sub: &str) -> (reqwest::Client, reqwest::Response) {
    let browser = client();
    let back = started_and_signed_in_at_the_provider(w, &browser, sub).await;
    let answer = browser.get(back).send().await.unwrap();
    (browser, answer)
}

/// The callback URL the provider sends `browser` to, after signing in there as `sub`.
async fn started_and_signed_in_at_the_provider(
    w: &World,
    browser: &reqwest::Client,
    sub: &str,
) -> String {
    let start = browser
        .get(w.app.url("/sign-in/oidc?next=/user/api-keys"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        start.status(),
        303,
        "the button sends the browser to the provider"
    );
    let authorize = location(&start);
    assert!(
        authorize.starts_with(&w.provider.issuer) && authorize.contains("code_challenge="),
        "{authorize}"
    );
    w.provider.sign_in(&authorize, sub).await
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string())
        .unwrap_or_default()
}

async fn signed_in(w: &World, browser: &reqwest::Client) -> bool {
    let page = browser
        .get(w.app.url("/user/api-keys"))
        .send()
        .await
        .unwrap();
    page.status() == 200
}

async fn page_text(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

async fn account_of_email(app: &TestApp, email: &str) -> Option<String> {
    let email = email.to_string();
    app.run(move |conn, _| {
        Ok(keyward::db::models::Account::find_by_email(conn, &email)?.map(|a| a.id))
    })
    .await
    .expect("a read of the database")
}

async fn oidc_a_first_sign_in_makes_an_account_in_an_allowed_domain_and_later_ones_follow_the_sub(
    backend: Backend,
) {
    let Some(w) = world(backend, |s| {
        s.default_tenant = Some(TenantSlug::parse("acme").unwrap());
        s.default_role = Role::ReadOnlyUser;
    })
    .await
    else {
        return;
    };
    let tenant = w.app.create_tenant("acme").await;
    w.provider.account("ada-sub", "ada@example.com", true).await;

    // The sign-in page offers the provider above the password form.
    let login = client().get(w.app.url("/login")).send().await.unwrap();
    let (_, body) = page_text(login).await;
    assert!(
        body.contains("Sign in with Test IdP") && body.contains("/sign-in/oidc"),
        "{body}"
    );

    let (browser, answer) = through_the_provider(&w, "ada-sub").await;
    assert_eq!(answer.status(), 303, "{:?}", answer.text().await);
    assert_eq!(location(&answer), "/user/api-keys");
    assert!(
        signed_in(&w, &browser).await,
        "signed in after the callback"
    );
    let account = account_of_email(&w.app, "ada@example.com")
        .await
        .expect("an account was made in the allowed domain");
    let role = w
        .app
        .run({
            let (t, a) = (tenant.id.clone(), account.clone());
            move |conn, _| Ok(keyward::db::models::Membership::find(conn, &a, &t)?.map(|m| m.role))
        })
        .await
        .expect("a read of the database");
    assert_eq!(
        role.as_deref(),
        Some("READ_ONLY_USER"),
        "joined the default tenant"
    );

    // The provider changes the person's email: the sub still decides.
    w.provider
        .account("ada-sub", "ada.lovelace@example.com", true)
        .await;
    let (browser, answer) = through_the_provider(&w, "ada-sub").await;
    assert_eq!(answer.status(), 303);
    assert!(signed_in(&w, &browser).await);
    assert_eq!(
        account_of_email(&w.app, "ada.lovelace@example.com").await,
        None,
        "no second account"
    );

    // Audited like a password sign-in, with the provider named.
    let audited = w
        .app
        .run(move |conn, _| {
            use diesel::prelude::*;
            use keyward::db::schema::audit_events::dsl::*;
            Ok(audit_events
                .filter(action.eq("sign_in.succeeded"))
                .select(detail)
                .load::<String>(conn)?)
        })
        .await
        .expect("a read of the database");
    assert!(
        audited.iter().any(|d| d.contains("Test IdP")),
        "{audited:?}"
    );
}

async fn oidc_a_forged_replayed_or_foreign_callback_signs_nobody_in(backend: Backend) {
    let Some(w) = world(backend, |_| {}).await else {
        return;
    };
    w.provider
        .account("grace-sub", "grace@example.com", true)
        .await;

    // A wrong state: refused, and the flow is used up.
    let browser = client();
    let back = started_and_signed_in_at_the_provider(&w, &browser, "grace-sub").await;
    let forged = regex_replace_state(&back, "not-the-state");
    let (status, body) = page_text(browser.get(&forged).send().await.unwrap()).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("Not signed in"), "{body}");
    assert!(!signed_in(&w, &browser).await);
    let (status, body) = page_text(browser.get(&back).send().await.unwrap()).await;
    assert_eq!(
        status, 400,
        "the flow was used up by the forged callback: {body}"
    );
    assert!(body.contains("was not started in this browser"), "{body}");

    // A callback opened in another browser (no flow cookie): refused.
    let browser = client();
    let back = started_and_signed_in_at_the_provider(&w, &browser, "grace-sub").await;
    let other = client();
    let (status, body) = page_text(other.get(&back).send().await.unwrap()).await;
    assert_eq!(status, 400, "{body}");
    assert!(!signed_in(&w, &other).await);

    // The right browser signs in once; replaying the callback signs nobody in again.
    let answer = browser.get(&back).send().await.unwrap();
    assert_eq!(answer.status(), 303);
    assert!(signed_in(&w, &browser).await);
    let fresh = client();
    for cookie_jar_browser in [&browser, &fresh] {
        let (status, _) = page_text(cookie_jar_browser.get(&back).send().await.unwrap()).await;
        assert_eq!(status, 400, "a replayed callback is refused");
    }
    assert!(!signed_in(&w, &fresh).await);

    // A replayed code with a new flow's state: the provider refuses it.
    let browser = client();
    let new_back = started_and_signed_in_at_the_provider(&w, &browser, "grace-sub").await;
    let old_code = query_param(&back, "code");
    let replayed = replace_param(&new_back, "code", &old_code);
    let (status, body) = page_text(browser.get(&replayed).send().await.unwrap()).await;
    assert_eq!(status, 400, "{body}");
    assert!(!signed_in(&w, &browser).await);

    // The provider says no (consent denied): a page that says so.
    let browser = client();
    let start = browser
        .get(w.app.url("/sign-in/oidc"))
        .send()
        .await
        .unwrap();
    let state = query_param(&location(&start), "state");
    let denied = w.app.url(&format!(
        "/sign-in/oidc/callback?error=access_denied&state={state}"
    ));
    let (status, body) = page_text(browser.get(&denied).send().await.unwrap()).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("access was denied"), "{body}");

    // `next` is local only.
    let start = browser
        .get(w.app.url("/sign-in/oidc?next=https://evil.example/"))
        .send()
        .await
        .unwrap();
    let back = w.provider.sign_in(&location(&start), "grace-sub").await;
    let answer = browser.get(&back).send().await.unwrap();
    assert_eq!(location(&answer), "/user/api-keys");
}

fn query_param(url: &str, name: &str) -> String {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .unwrap_or_default()
}

fn replace_param(url: &str, name: &str, value: &str) -> String {
    let (base, query) = url.split_once('?').unwrap();
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .unwrap()
        .into_iter()
        .map(|(k, v)| {
            if k == name {
                (k, value.to_string())
            } else {
                (k, v)
            }
        })
        .collect();
    format!("{base}?{}", serde_urlencoded::to_string(pairs).unwrap())
}

fn regex_replace_state(url: &str, state: &str) -> String {
    replace_param(url, "state", state)
}

async fn oidc_id_tokens_with_a_wrong_nonce_issuer_or_expiry_are_refused(backend: Backend) {
    let Some(w) = world(backend, |_| {}).await else {
        return;
    };
    w.provider.account("ken-sub", "ken@example.com", true).await;
    for mode in ["wrong_nonce", "expired", "wrong_issuer"] {
        w.provider.steer("mode", json!({ "id_token": mode })).await;
        let (browser, answer) = through_the_provider(&w, "ken-sub").await;
        let (status, body) = page_text(answer).await;
        assert_eq!(status, 400, "{mode}: {body}");
        assert!(
            body.contains("could not check the answer"),
            "{mode}: {body}"
        );
        assert!(!signed_in(&w, &browser).await, "{mode}");
    }
    assert_eq!(account_of_email(&w.app, "ken@example.com").await, None);
    // The same provider, honest again: signed in.
    w.provider
        .steer("mode", json!({ "id_token": "normal" }))
        .await;
    let (browser, answer) = through_the_provider(&w, "ken-sub").await;
    assert_eq!(answer.status(), 303);
    assert!(signed_in(&w, &browser).await);
}

async fn oidc_unverified_emails_and_domains_not_allowed_get_no_account(backend: Backend) {
    let Some(w) = world(backend, |_| {}).await else {
        return;
    };
    w.provider
        .account("u-sub", "unverified@example.com", false)
        .await;
    let (browser, answer) = through_the_provider(&w, "u-sub").await;
    let (status, body) = page_text(answer).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("did not say that your email address is verified"),
        "{body}"
    );
    assert!(!signed_in(&w, &browser).await);

    w.provider
        .account("o-sub", "mallory@elsewhere.test", true)
        .await;
    let (browser, answer) = through_the_provider(&w, "o-sub").await;
    let (status, body) = page_text(answer).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("only for some email domains"), "{body}");
    assert!(!signed_in(&w, &browser).await);
    assert_eq!(
        account_of_email(&w.app, "unverified@example.com").await,
        None
    );
    assert_eq!(
        account_of_email(&w.app, "mallory@elsewhere.test").await,
        None
    );

    // The allowed domains bound linking too: an existing account of another domain, its
    // email verified by Keyward, is not linked (nor offered the password step).
    let tenant = w.app.create_tenant("acme").await;
    let carol = w
        .app
        .create_person("carol@elsewhere.test", &tenant.id, Role::Admin)
        .await;
    verified(&w.app, &carol.id, "carol@elsewhere.test").await;
    w.provider
        .account("c-sub", "carol@elsewhere.test", true)
        .await;
    let (browser, answer) = through_the_provider(&w, "c-sub").await;
    let (status, body) = page_text(answer).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("only for some email domains"), "{body}");
    assert!(!signed_in(&w, &browser).await);
    let linked = w
        .app
        .read(|conn| {
            use diesel::prelude::*;
            use keyward::db::schema::oidc_identities::dsl::*;
            oidc_identities.count().get_result::<i64>(conn)
        })
        .await;
    assert_eq!(linked, 0);
}

async fn oidc_an_account_whose_email_keyward_never_verified_is_linked_only_with_its_password(
    backend: Backend,
) {
    let Some(w) = world(backend, |_| {}).await else {
        return;
    };
    let tenant = w.app.create_tenant("acme").await;
    let victim = w
        .app
        .create_person("victim@example.com", &tenant.id, Role::Admin)
        .await;
    // An attacker registers the victim's address at the provider, "verified" there.
    w.provider
        .account("attacker-sub", "victim@example.com", true)
        .await;
    let (browser, answer) = through_the_provider(&w, "attacker-sub").await;
    assert_eq!(answer.status(), 303);
    assert_eq!(location(&answer), "/sign-in/oidc/link");
    assert!(
        !signed_in(&w, &browser).await,
        "not signed in by email alone"
    );
    let linked = w
        .app
        .run(|conn, _| {
            use diesel::prelude::*;
            use keyward::db::schema::oidc_identities::dsl::*;
            Ok(oidc_identities.count().get_result::<i64>(conn)?)
        })
        .await
        .expect("a read of the database");
    assert_eq!(linked, 0, "nothing is linked by the provider's email");
    let form = browser
        .get(w.app.url("/sign-in/oidc/link"))
        .send()
        .await
        .unwrap();
    let (status, body) = page_text(form).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("victim@example.com") && body.contains("password"),
        "{body}"
    );

    // A wrong password: refused, still not linked.
    let (status, body) = page_text(
        browser
            .post(w.app.url("/sign-in/oidc/link"))
            .form(&[("password", "not the password")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(!signed_in(&w, &browser).await);

    // The owner, who knows the password, links it once; then the provider alone suffices.
    let (owner, answer) = through_the_provider(&w, "attacker-sub").await;
    assert_eq!(location(&answer), "/sign-in/oidc/link");
    let answer = owner
        .post(w.app.url("/sign-in/oidc/link"))
        .form(&[("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303, "{:?}", answer.text().await);
    assert!(signed_in(&w, &owner).await);
    let (again, answer) = through_the_provider(&w, "attacker-sub").await;
    assert_eq!(location(&answer), "/user/api-keys");
    assert!(signed_in(&w, &again).await);
    let linked_to = w
        .app
        .run(|conn, _| {
            use diesel::prelude::*;
            use keyward::db::schema::oidc_identities::dsl::*;
            Ok(oidc_identities.select(account_id).first::<String>(conn)?)
        })
        .await
        .expect("a read of the database");
    assert_eq!(linked_to, victim.id);

    // An account with two-factor on is never linked by its password alone: the link step
    // asks for a code too (the full test: `oidc_a_member_with_two_factor_links_…`).
    let guarded = w
        .app
        .create_person("guarded@example.com", &tenant.id, Role::Admin)
        .await;
    let id = guarded.id.clone();
    w.app
        .run(move |conn, now| {
            keyward::db::models::two_factor::TwoFactorRow {
                account_id: id,
                secret_sealed: "sealed-test-value".into(),
                key_version: "v1".into(),
                last_step: 0,
                created_at: now,
                enabled_at: Some(now),
                last_used_at: None,
            }
            .replace(conn)?;
            Ok(())
        })
        .await
        .expect("two-factor on");
    w.provider
        .account("g-sub", "guarded@example.com", true)
        .await;
    let (browser, answer) = through_the_provider(&w, "g-sub").await;
    assert_eq!(location(&answer), "/sign-in/oidc/link");
    let (status, body) = page_text(
        browser
            .post(w.app.url("/sign-in/oidc/link"))
            .form(&[("password", PASSWORD)])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("two-factor authentication on"), "{body}");
    assert!(!signed_in(&w, &browser).await);
}

async fn oidc_an_account_whose_email_keyward_verified_is_linked_at_the_first_sign_in(
    backend: Backend,
) {
    let Some(w) = world(backend, |_| {}).await else {
        return;
    };
    let tenant = w.app.create_tenant("acme").await;
    let person = w
        .app
        .create_person("lin@example.com", &tenant.id, Role::User)
        .await;
    // What a used mailed reset link records (services::recovery::reset_password).
    let id = person.id.clone();
    w.app
        .run(move |conn, now| {
            keyward::db::models::oidc::set_verified_email(conn, &id, "lin@example.com", now)?;
            Ok(())
        })
        .await
        .expect("a write to the database");
    w.provider.account("lin-sub", "lin@example.com", true).await;
    let (browser, answer) = through_the_provider(&w, "lin-sub").await;
    assert_eq!(location(&answer), "/user/api-keys");
    assert!(signed_in(&w, &browser).await);
}

async fn oidc_a_key_rotation_at_the_provider_is_followed(backend: Backend) {
    let Some(w) = world(backend, |_| {}).await else {
        return;
    };
    w.provider.account("rot-sub", "rot@example.com", true).await;
    let (browser, _) = through_the_provider(&w, "rot-sub").await;
    assert!(
        signed_in(&w, &browser).await,
        "signed in with the first key"
    );
    // Keyward holds the provider's keys from its discovery; the provider now signs with a
    // key Keyward has never seen.
    w.provider.steer("rotate", json!({})).await;
    let (browser, answer) = through_the_provider(&w, "rot-sub").await;
    assert_eq!(answer.status(), 303, "{:?}", answer.text().await);
    assert!(
        signed_in(&w, &browser).await,
        "signed in with the rotated key"
    );
}

async fn oidc_with_the_provider_down_the_server_starts_and_passwords_still_work(backend: Backend) {
    let Some(mut w) = world(backend, |_| {}).await else {
        return;
    };
    w.provider.stop();
    // A second instance starts with the provider down.
    let issuer = w.provider.issuer.clone();
    let second = w.app.another_instance(|s| {
        s.oidc = Some(settings(&issuer, "http://127.0.0.1:1"));
    });
    for app in [&w.app, &second] {
        let tenant = app.create_tenant(&format!("t{}", app.port)).await;
        let email = format!("p{}@example.com", app.port);
        app.create_person(&email, &tenant.id, Role::User).await;
        let browser = client();
        let (status, body) =
            page_text(browser.get(app.url("/sign-in/oidc")).send().await.unwrap()).await;
        assert_eq!(status, 502, "{body}");
        assert!(body.contains("cannot be reached"), "{body}");
        let login = browser
            .post(app.url("/login"))
            .form(&[
                ("email", email.as_str()),
                ("password", PASSWORD),
                ("next", "/user/api-keys"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), 303, "a password sign-in works");
    }
}

/// The details of the tenant's audit events with `action`.
async fn audited(app: &TestApp, tenant_id: &str, action: &str) -> Vec<String> {
    let (tenant_id, action) = (tenant_id.to_string(), action.to_string());
    app.read(move |conn| {
        use diesel::prelude::*;
        use keyward::db::schema::audit_events::dsl as a;
        a::audit_events
            .filter(a::tenant_id.eq(tenant_id))
            .filter(a::action.eq(action))
            .order(a::at.asc())
            .select(a::detail)
            .load::<String>(conn)
    })
    .await
}

/// Marks the account's email as verified by Keyward (what a used mailed link records), so
/// the provider links it at the first sign-in.
async fn verified(app: &TestApp, account_id: &str, email: &str) {
    let (id, email) = (account_id.to_string(), email.to_string());
    app.run(move |conn, now| {
        keyward::db::models::oidc::set_verified_email(conn, &id, &email, now)?;
        Ok(())
    })
    .await
    .expect("a write to the database");
}

/// Posts Team › Settings › Single sign-on from `browser`'s session (its CSRF token read
/// from a page, as a browser would).
async fn post_sso_requirement(app: &TestApp, browser: &reqwest::Client, on: bool) -> (u16, String) {
    let settings = browser
        .get(app.url("/user/api-keys"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = input_value(&settings, "csrf_token").expect("a page's CSRF token");
    let mut form = vec![("csrf_token", csrf.as_str())];
    if on {
        form.push(("require_sso", "on"));
    }
    page_text(
        browser
            .post(app.url("/t/acme/team/settings/single-sign-on"))
            .form(&form)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn oidc_a_tenant_that_requires_single_sign_on_takes_passwords_away_from_its_members(
    backend: Backend,
) {
    let Some(w) = world(backend, |_| {}).await else {
        return;
    };
    let tenant = w.app.create_tenant("acme").await;
    let ada = w
        .app
        .create_person("ada@example.com", &tenant.id, Role::Admin)
        .await;
    let bob = w
        .app
        .create_person("bob@example.com", &tenant.id, Role::User)
        .await;
    // Bob is also in a tenant that does not require it: there his password still works.
    let other = w.app.create_tenant("globex").await;
    w.app.add_member(&bob.id, &other.id, Role::Admin).await;

    // Ada, signed in with her password and not linked to the provider, cannot turn it on:
    // she would lock herself out.
    let ada_password = Browser::new(&w.app);
    ada_password.sign_in("ada@example.com").await;
    let (status, body) = post_sso_requirement(&w.app, &ada_password.client, true).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("your own account is not linked to Test IdP")
            && body.contains("sign in once with Test IdP"),
        "{body}"
    );
    // Nor can Bob, who is not an admin, even when linked.
    verified(&w.app, &bob.id, "bob@example.com").await;
    w.provider.account("bob-sub", "bob@example.com", true).await;
    let (bob_sso, _) = through_the_provider(&w, "bob-sub").await;
    assert!(signed_in(&w, &bob_sso).await);
    let (status, body) = post_sso_requirement(&w.app, &bob_sso, true).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        audited(&w.app, &tenant.id, "tenant.sso_requirement_changed")
            .await
            .is_empty()
    );

    // Bob's password session, opened before the requirement.
    let bob_password = Browser::new(&w.app);
    bob_password.sign_in("bob@example.com").await;
    assert_eq!(bob_password.get("/user/api-keys").await.status(), 200);

    // Ada links her account through the provider, then turns it on from that session.
    verified(&w.app, &ada.id, "ada@example.com").await;
    w.provider.account("ada-sub", "ada@example.com", true).await;
    let (ada_sso, _) = through_the_provider(&w, "ada-sub").await;
    assert!(signed_in(&w, &ada_sso).await);
    // A form from another site carries no CSRF token: refused, nothing changes.
    let forged = ada_sso
        .post(w.app.url("/t/acme/team/settings/single-sign-on"))
        .form(&[("require_sso", "on")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert!(
        audited(&w.app, &tenant.id, "tenant.sso_requirement_changed")
            .await
            .is_empty()
    );
    let (status, body) = post_sso_requirement(&w.app, &ada_sso, true).await;
    assert_eq!(status, 303, "{body}");
    let page = text_of(&w, &ada_sso, "/t/acme/team/settings").await;
    assert!(page.contains("name=\"require_sso\" checked"), "{page}");
    assert_eq!(
        audited(&w.app, &tenant.id, "tenant.sso_requirement_changed").await,
        vec!["single sign-on required of members: passwords no longer sign them in".to_string()],
        "audited once"
    );

    // Ada's password session ends on its next request: every tenant of hers requires it.
    let res = ada_password.get("/user/api-keys").await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        crate::support::browser::location(&res),
        "/login?sso=required"
    );
    let again = ada_password.get("/user/api-keys").await;
    assert_eq!(again.status(), 303, "the session is gone");
    assert!(crate::support::browser::location(&again).starts_with("/login"));
    let notice = ada_password.text("/login?sso=required").await;
    assert!(
        notice.contains("require single sign-on") && notice.contains("Sign in with Test IdP"),
        "{notice}"
    );

    // The requirement is acme's, not Bob's (review finding H1): his password session goes
    // on in globex, and acme's pages send him to the provider; acme's admin cannot lock
    // him out of globex.
    for browser in [&bob_password, &Browser::new(&w.app)] {
        if !signed_in_browser(browser).await {
            let res = browser.sign_in_with("bob@example.com", PASSWORD).await;
            assert_eq!(res.status(), 303, "a password still signs Bob in");
        }
        assert_eq!(browser.get("/user/api-keys").await.status(), 200);
        assert_eq!(browser.get("/t/globex/team/settings").await.status(), 200);
        let res = browser.get("/t/acme/team/members").await;
        assert_eq!(res.status(), 303);
        assert_eq!(
            crate::support::browser::location(&res),
            "/sign-in/oidc?next=%2Ft%2Facme%2Fteam%2Fmembers"
        );
        let home = browser.text("/user/api-keys").await;
        assert!(!home.contains("/t/acme"), "acme is not offered: {home}");
    }

    // Nor may his password session turn his own acme key into a fresh secret.
    let (acme_key, _) = w.app.create_key(&bob.id, &tenant.id, None).await;
    let csrf = bob_password.csrf_token().await;
    let res = bob_password
        .post(
            &format!("/user/api-keys/{acme_key}/rotate"),
            &[("csrf_token", csrf.as_str()), ("overlap_hours", "0")],
        )
        .await;
    assert_eq!(res.status(), 404);
    let rotated = w
        .app
        .read(move |conn| {
            keyward::db::models::ApiKey::find(conn, &acme_key).map(|k| k.unwrap().rotated_to_key_id)
        })
        .await;
    assert_eq!(rotated, None, "not rotated");

    // A password no longer signs Ada in: the page says why and offers the provider.
    let res = ada_password.sign_in_with("ada@example.com", PASSWORD).await;
    let (status, body) = page_text(res).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("Tenant acme requires single sign-on") && body.contains("/sign-in/oidc"),
        "{body}"
    );
    assert!(!signed_in_browser(&ada_password).await);
    // A wrong password still answers as a wrong password.
    let (status, _) = page_text(
        ada_password
            .sign_in_with("ada@example.com", "not the password")
            .await,
    )
    .await;
    assert_eq!(status, 401);
    assert!(audited(&w.app, &tenant.id, "sign_in.failed")
        .await
        .contains(&"password right, but Tenant acme requires single sign-on".to_string()));

    // Sessions through the provider go on, and new ones open.
    assert!(signed_in(&w, &ada_sso).await);
    assert!(signed_in(&w, &bob_sso).await);
    let (bob_again, _) = through_the_provider(&w, "bob-sub").await;
    assert!(signed_in(&w, &bob_again).await);

    // Through GraphQL, the setting reads back; a member's key may not change it.
    let (_, bob_key) = w.app.create_key(&bob.id, &tenant.id, None).await;
    let answer = w
        .app
        .gql(
            &bob_key,
            "mutation { set_tenant_sso_required(input: { required: false }) { required } }",
        )
        .await;
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{answer}"
    );
    an_admins_api_key_cannot_turn_the_requirement_off(&w, &ada.id, &tenant.id).await;

    // The operator's way back: `keyward admin stop-requiring-sso`, then passwords work.
    let url = w.app.db.url.clone();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        crate::support::run_keyward(
            &[
                "admin",
                "--database-url",
                &url,
                "stop-requiring-sso",
                "--tenant",
                "acme",
            ],
            "",
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("no longer requires single sign-on"), "{out}");
    assert_eq!(
        audited(&w.app, &tenant.id, "tenant.sso_requirement_changed")
            .await
            .len(),
        2
    );
    let res = ada_password.sign_in_with("ada@example.com", PASSWORD).await;
    assert_eq!(res.status(), 303, "passwords sign in again");
}

/// An admin removed at the provider still has their API key: it must not turn the
/// requirement off (and reopen their password), only read it (review finding M1).
async fn an_admins_api_key_cannot_turn_the_requirement_off(
    w: &World,
    admin_id: &str,
    tenant_id: &str,
) {
    let (_, admin_key) = w.app.create_key(admin_id, tenant_id, None).await;
    let changes_before = audited(&w.app, tenant_id, "tenant.sso_requirement_changed")
        .await
        .len();
    let answer = w
        .app
        .gql(
            &admin_key,
            "mutation { set_tenant_sso_required(input: { required: false }) { required } }",
        )
        .await;
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{answer}"
    );
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("dashboard")),
        "{answer}"
    );
    let read = w
        .app
        .gql(&admin_key, "{ tenant_sso_requirement { required } }")
        .await;
    assert_eq!(
        read["data"]["tenant_sso_requirement"]["required"], true,
        "{read}"
    );
    assert_eq!(
        audited(&w.app, tenant_id, "tenant.sso_requirement_changed")
            .await
            .len(),
        changes_before,
        "nothing changed"
    );
}

async fn signed_in_browser(browser: &Browser) -> bool {
    browser.get("/user/api-keys").await.status() == 200
}

async fn oidc_requiring_single_sign_on_is_refused_while_it_is_not_set_up(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("acme").await;
    let ada = app
        .create_person("ada@example.com", &tenant.id, Role::Admin)
        .await;
    let browser = Browser::new(&app);
    browser.sign_in("ada@example.com").await;
    let page = browser.text("/t/acme/team/settings").await;
    assert!(page.contains("id=\"sso-not-set-up\""), "{page}");
    let (status, body) = post_sso_requirement(&app, &browser.client, true).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("single sign-on is not set up on this Keyward")
            && body.contains("--oidc-issuer"),
        "{body}"
    );
    let (_, key) = app.create_key(&ada.id, &tenant.id, None).await;
    let answer = app
        .gql(
            &key,
            "mutation { set_tenant_sso_required(input: { required: true }) { required } }",
        )
        .await;
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "no key changes it: {answer}"
    );
    let answer = app
        .gql(&key, "{ tenant_sso_requirement { required } }")
        .await;
    assert_eq!(answer["data"]["tenant_sso_requirement"]["required"], false);
    assert!(audited(&app, &tenant.id, "tenant.sso_requirement_changed")
        .await
        .is_empty());
    // Ada's password still works.
    assert!(signed_in_browser(&browser).await);
}

async fn oidc_a_provider_session_older_than_the_session_hours_ends(backend: Backend) {
    let Some(w) = world(backend, |s| s.session_hours = 1).await else {
        return;
    };
    let tenant = w.app.create_tenant("acme").await;
    let ada = w
        .app
        .create_person("ada@example.com", &tenant.id, Role::Admin)
        .await;
    verified(&w.app, &ada.id, "ada@example.com").await;
    w.provider.account("ada-sub", "ada@example.com", true).await;
    let (browser, _) = through_the_provider(&w, "ada-sub").await;
    let (status, body) = post_sso_requirement(&w.app, &browser, true).await;
    assert_eq!(status, 303, "{body}");
    assert!(
        signed_in(&w, &browser).await,
        "a fresh provider session goes on"
    );
    // The sign-in at the provider was 61 minutes ago (the session is otherwise live: its
    // last use is now, and every session's 12 hours are far).
    signed_in_minutes_ago(&w.app, &ada.id, 61).await;
    let res = browser
        .get(w.app.url("/user/api-keys"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/login?sso=expired");
    assert!(!signed_in(&w, &browser).await, "the session is gone");
    let (_, notice) = page_text(
        browser
            .get(w.app.url("/login?sso=expired"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(notice.contains("at most 1 hours"), "{notice}");
    // Signing in through the provider again opens a new one.
    let (again, _) = through_the_provider(&w, "ada-sub").await;
    assert!(signed_in(&w, &again).await);
}

/// `keyward admin ARGS… --json` against the app's database: its JSON answer.
async fn admin_json(app: &TestApp, args: &[&str]) -> serde_json::Value {
    let mut all: Vec<String> = vec!["admin".into(), "--database-url".into(), app.db.url.clone()];
    all.extend(args.iter().map(|a| a.to_string()));
    all.push("--json".into());
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = all.iter().map(String::as_str).collect();
        crate::support::run_keyward(&args, "")
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

async fn oidc_an_operator_lists_and_removes_an_accounts_links(backend: Backend) {
    let Some(w) = world(backend, |_| {}).await else {
        return;
    };
    let tenant = w.app.create_tenant("acme").await;
    let ada = w
        .app
        .create_person("ada@example.com", &tenant.id, Role::Admin)
        .await;
    verified(&w.app, &ada.id, "ada@example.com").await;
    w.provider.account("ada-sub", "ada@example.com", true).await;
    let (browser, _) = through_the_provider(&w, "ada-sub").await;
    assert!(signed_in(&w, &browser).await);

    // Another person's link is not removed by naming it under Ada's email (nor Ada's
    // under Bob's): the account and the identity must match.
    w.app
        .create_person("bob@example.com", &tenant.id, Role::User)
        .await;
    let (code, _, err) =
        remove_sso_link(&w.app, "bob@example.com", &w.provider.issuer, "ada-sub").await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no such identity provider link"), "{err}");
    assert!(signed_in(&w, &browser).await, "Ada's link stays");
    let listed = admin_json(&w.app, &["list-sso-links", "--email", "ADA@example.com"]).await;
    assert_eq!(listed["account_id"], ada.id.as_str());
    assert_eq!(listed["links"][0]["subject"], "ada-sub");
    assert_eq!(listed["links"][0]["issuer"], w.provider.issuer.as_str());
    let removed = admin_json(
        &w.app,
        &[
            "remove-sso-link",
            "--email",
            "ada@example.com",
            "--issuer",
            &w.provider.issuer,
            "--subject",
            "ada-sub",
        ],
    )
    .await;
    assert_eq!(removed["removed"], true);
    assert!(
        !signed_in(&w, &browser).await,
        "the sessions opened through the link end with it"
    );
    let listed = admin_json(&w.app, &["list-sso-links", "--email", "ada@example.com"]).await;
    assert_eq!(listed["links"], json!([]));
    assert_eq!(
        audited(&w.app, &tenant.id, "sso.identity_unlinked")
            .await
            .len(),
        1
    );
    // Removing it again says there is none.
    let (code, _, err) =
        remove_sso_link(&w.app, "ada@example.com", &w.provider.issuer, "ada-sub").await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no such identity provider link"), "{err}");
}

/// `keyward admin remove-sso-link` against the app's database: exit code, out, err.
async fn remove_sso_link(
    app: &TestApp,
    email: &str,
    issuer: &str,
    subject: &str,
) -> (i32, String, String) {
    let (url, email, issuer, subject) = (
        app.db.url.clone(),
        email.to_string(),
        issuer.to_string(),
        subject.to_string(),
    );
    tokio::task::spawn_blocking(move || {
        crate::support::run_keyward(
            &[
                "admin",
                "--database-url",
                &url,
                "remove-sso-link",
                "--email",
                &email,
                "--issuer",
                &issuer,
                "--subject",
                &subject,
            ],
            "",
        )
    })
    .await
    .unwrap()
}

async fn oidc_a_person_sees_and_removes_their_own_links_only(backend: Backend) {
    let Some(w) = world(backend, |_| {}).await else {
        return;
    };
    let tenant = w.app.create_tenant("acme").await;
    let ada = w
        .app
        .create_person("ada@example.com", &tenant.id, Role::Admin)
        .await;
    w.app
        .create_person("bob@example.com", &tenant.id, Role::Admin)
        .await;
    verified(&w.app, &ada.id, "ada@example.com").await;
    w.provider.account("ada-sub", "ada@example.com", true).await;
    let (ada_browser, _) = through_the_provider(&w, "ada-sub").await;
    let page = text_of(&w, &ada_browser, "/user/single-sign-on").await;
    assert!(
        page.contains("data-subject=\"ada-sub\"") && page.contains(&w.provider.issuer),
        "{page}"
    );
    let csrf = input_value(&page, "csrf_token").unwrap();

    // Bob, signed in with his password, sees none, and cannot remove Ada's.
    let bob = Browser::new(&w.app);
    let bob_csrf = bob.sign_in("bob@example.com").await;
    assert!(bob
        .text("/user/single-sign-on")
        .await
        .contains("id=\"no-sso-links\""));
    let res = bob
        .post(
            "/user/single-sign-on/remove",
            &[
                ("csrf_token", bob_csrf.as_str()),
                ("issuer", w.provider.issuer.as_str()),
                ("subject", "ada-sub"),
            ],
        )
        .await;
    assert_eq!(res.status(), 404);
    assert!(
        signed_in(&w, &ada_browser).await,
        "Ada's link and session stay"
    );

    // Ada removes hers: her sessions end, and the page says why.
    let res = ada_browser
        .post(w.app.url("/user/single-sign-on/remove"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("issuer", w.provider.issuer.as_str()),
            ("subject", "ada-sub"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/login?sso=unlinked");
    assert!(!signed_in(&w, &ada_browser).await);
    let linked = w
        .app
        .read(|conn| {
            use diesel::prelude::*;
            use keyward::db::schema::oidc_identities::dsl::*;
            oidc_identities.count().get_result::<i64>(conn)
        })
        .await;
    assert_eq!(linked, 0);
    assert_eq!(
        audited(&w.app, &tenant.id, "sso.identity_unlinked")
            .await
            .len(),
        1
    );
}

async fn oidc_sign_ins_started_from_one_address_are_limited(backend: Backend) {
    let Some(w) = world(backend, |_| {}).await else {
        return;
    };
    let max = keyward::services::oidc::MAX_FLOWS_PER_ADDRESS;
    // Unfinished starts, as a script hammering the button would leave them.
    for n in 0..max {
        let res = client()
            .get(w.app.url("/sign-in/oidc"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "start {n}");
    }
    let (status, body) = page_text(
        client()
            .get(w.app.url("/sign-in/oidc"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 429, "{body}");
    assert!(
        body.contains("Too many sign-ins through Test IdP"),
        "{body}"
    );
    let flows = w.app.read(keyward::db::models::oidc::OidcFlow::count).await;
    assert_eq!(flows, max, "the refused start stored nothing");
    // When they expire, the address may start again.
    w.app
        .run(|conn, now| {
            use diesel::prelude::*;
            use keyward::db::schema::oidc_flows::dsl as f;
            diesel::update(f::oidc_flows)
                .set(f::expires_at.eq(now - time::Duration::seconds(1)))
                .execute(conn)?;
            Ok(())
        })
        .await
        .expect("a write to the database");
    let res = client()
        .get(w.app.url("/sign-in/oidc"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
}

/// Review finding H2: a member with two-factor on, never linked, in a tenant that requires
/// single sign-on, links with the password and a code (both factors, as a sign-in), in
/// the requiring tenant; and cannot then remove that last link and lock themselves out.
async fn oidc_a_member_with_two_factor_links_with_password_and_code_and_keeps_the_last_link_in_a_requiring_tenant(
    backend: Backend,
) {
    let Some(w) = world(backend, |_| {}).await else {
        return;
    };
    let tenant = w.app.create_tenant("acme").await;
    let ada = w
        .app
        .create_person("ada@example.com", &tenant.id, Role::Admin)
        .await;
    let carol = w
        .app
        .create_person("carol@example.com", &tenant.id, Role::User)
        .await;
    let (secret, _) =
        crate::two_factor::enrol_as(&w.app, &Browser::new(&w.app), "carol@example.com").await;
    // Keyward verified Carol's address: with two-factor on, that alone links nothing.
    verified(&w.app, &carol.id, "carol@example.com").await;
    verified(&w.app, &ada.id, "ada@example.com").await;
    w.provider.account("ada-sub", "ada@example.com", true).await;
    let (ada_sso, _) = through_the_provider(&w, "ada-sub").await;
    let (status, body) = post_sso_requirement(&w.app, &ada_sso, true).await;
    assert_eq!(status, 303, "{body}");

    w.provider
        .account("carol-sub", "carol@example.com", true)
        .await;
    let (carol_sso, answer) = through_the_provider(&w, "carol-sub").await;
    assert_eq!(location(&answer), "/sign-in/oidc/link");
    assert!(!signed_in(&w, &carol_sso).await, "not linked by email");
    let form = text_of(&w, &carol_sso, "/sign-in/oidc/link").await;
    assert!(form.contains("id=\"sso-link-code\""), "{form}");
    let link = |code: &'static str| {
        carol_sso
            .post(w.app.url("/sign-in/oidc/link"))
            .form(&[("password", PASSWORD), ("code", code)])
            .send()
    };
    let (status, body) = page_text(link("").await.unwrap()).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("enter a code"), "{body}");
    let (status, body) = page_text(link("000000").await.unwrap()).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("The code is not right"), "{body}");
    assert!(!signed_in(&w, &carol_sso).await);
    let code = crate::two_factor::code_at(&secret, w.app.clock.now());
    let answer = carol_sso
        .post(w.app.url("/sign-in/oidc/link"))
        .form(&[("password", PASSWORD), ("code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303, "{:?}", answer.text().await);
    assert!(
        signed_in(&w, &carol_sso).await,
        "linked and signed in, in the requiring tenant"
    );
    assert!(audited(&w.app, &tenant.id, "sign_in.succeeded")
        .await
        .iter()
        .any(|d| d.contains("with the account's password and a two-factor code")));

    // Her only link stays while acme requires single sign-on.
    let (status, body) = page_text(remove_own_link(&w, &carol_sso, "carol-sub").await).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body.contains("last link to the identity provider"),
        "{body}"
    );
    // Attack review finding M2: what the refusal says to do is what can work, an
    // operator's removal; linking another identity at the same provider never could (one
    // link per provider and account).
    assert!(body.contains("keyward admin remove-sso-link"), "{body}");
    assert!(!body.contains("Link another identity"), "{body}");
    assert!(signed_in(&w, &carol_sso).await, "the link and session stay");
    assert!(audited(&w.app, &tenant.id, "sso.identity_unlinked")
        .await
        .is_empty());
}

/// Review finding M2: starts racing from one address cannot pass its limit together (the
/// count and the insert are one serialised transaction).
async fn oidc_racing_starts_from_one_address_stay_within_its_limit(backend: Backend) {
    let Some(w) = world(backend, |_| {}).await else {
        return;
    };
    let max = keyward::services::oidc::MAX_FLOWS_PER_ADDRESS;
    // Discovery is read once first, so the racing starts reach the database together.
    let first = client()
        .get(w.app.url("/sign-in/oidc"))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 303);
    let mut starts = tokio::task::JoinSet::new();
    for _ in 0..2 * max {
        let url = w.app.url("/sign-in/oidc");
        starts.spawn(async move { client().get(url).send().await.unwrap().status().as_u16() });
    }
    let mut answers = Vec::new();
    while let Some(answer) = starts.join_next().await {
        answers.push(answer.unwrap());
    }
    assert!(
        answers.iter().all(|s| *s == 303 || *s == 429),
        "{answers:?}"
    );
    let flows = w.app.read(keyward::db::models::oidc::OidcFlow::count).await;
    assert_eq!(flows, max, "never more than the limit: {answers:?}");
    assert_eq!(
        answers.iter().filter(|s| **s == 429).count() as i64,
        max + 1,
        "{answers:?}"
    );
}

/// Removes `subject`'s link on User › Single sign-on from `browser`'s session (its CSRF
/// token read from that page).
async fn remove_own_link(w: &World, browser: &reqwest::Client, subject: &str) -> reqwest::Response {
    remove_link(w, browser, &w.provider.issuer, subject).await
}

/// Removes the link to `subject` at `issuer` on User › Single sign-on.
async fn remove_link(
    w: &World,
    browser: &reqwest::Client,
    issuer: &str,
    subject: &str,
) -> reqwest::Response {
    let page = text_of(w, browser, "/user/single-sign-on").await;
    let csrf = input_value(&page, "csrf_token").unwrap();
    browser
        .post(w.app.url("/user/single-sign-on/remove"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("issuer", issuer),
            ("subject", subject),
        ])
        .send()
        .await
        .unwrap()
}

/// The text of the page at `path`, as `browser` gets it.
async fn text_of(w: &World, browser: &reqwest::Client, path: &str) -> String {
    let page = browser.get(w.app.url(path)).send().await.unwrap();
    page.text().await.unwrap()
}

/// Links the identity waiting in `browser` with the account's password.
async fn link_with_password(w: &World, browser: &reqwest::Client) -> reqwest::Response {
    browser
        .post(w.app.url("/sign-in/oidc/link"))
        .form(&[("password", PASSWORD), ("code", "")])
        .send()
        .await
        .unwrap()
}

/// A world that sends mail to a real SMTP server, with links under its public URL.
async fn world_with_mail(backend: Backend) -> Option<(World, crate::support::smtp::SmtpSink)> {
    let sink = crate::support::smtp::SmtpSink::start()?;
    let public = std::cell::RefCell::new(String::new());
    let w = world_with(
        backend,
        |o| *public.borrow_mut() = o.redirect_url.replace("/sign-in/oidc/callback", ""),
        |s| {
            let url = public.borrow().clone();
            crate::support::smtp::mail_through(s, &sink, Some(&url));
        },
    )
    .await?;
    Some((w, sink))
}

/// Review finding M3: whoever links an identity to an account (by its verified email, or
/// with its password), its owner is told by mail, which names the provider and the time,
/// says where to remove the link, and carries nothing secret.
async fn oidc_the_owner_is_mailed_when_an_identity_is_linked_to_their_account(backend: Backend) {
    let Some((w, sink)) = world_with_mail(backend).await else {
        return;
    };
    let tenant = w.app.create_tenant("acme").await;
    let lin = w
        .app
        .create_person("lin@example.com", &tenant.id, Role::User)
        .await;
    w.app
        .create_person("pat@example.com", &tenant.id, Role::User)
        .await;
    verified(&w.app, &lin.id, "lin@example.com").await;

    // Lin's verified email links at the first sign-in.
    w.provider.account("lin-sub", "lin@example.com", true).await;
    let lin_browser = client();
    let back = started_and_signed_in_at_the_provider(&w, &lin_browser, "lin-sub").await;
    let secrets = [query_param(&back, "code"), query_param(&back, "state")];
    lin_browser.get(&back).send().await.unwrap();
    assert!(signed_in(&w, &lin_browser).await);
    // Pat's links with the password.
    w.provider.account("pat-sub", "pat@example.com", true).await;
    let (pat_browser, answer) = through_the_provider(&w, "pat-sub").await;
    assert_eq!(location(&answer), "/sign-in/oidc/link");
    assert_eq!(link_with_password(&w, &pat_browser).await.status(), 303);
    assert!(signed_in(&w, &pat_browser).await);

    let mails = sink.wait_for_mails(2).await;
    for (to, how) in [
        ("lin@example.com", "by your email address"),
        ("pat@example.com", "with the account's password"),
    ] {
        let mail = mails
            .iter()
            .find(|m| m.rcpt_tos == [to])
            .unwrap_or_else(|| panic!("a mail to {to}: {mails:?}"));
        assert_eq!(
            mail.subject,
            "An identity provider was linked to your Keyward account"
        );
        let body = mail.body.replace("\r\n", "\n");
        assert!(body.contains("“Test IdP”"), "{body}");
        assert!(body.contains(how), "{body}");
        assert!(body.contains("UTC"), "{body}");
        assert!(body.contains("User › Single sign-on"), "{body}");
        assert_eq!(mail.link(), None, "no link in it: {body}");
        for secret in &secrets {
            assert!(!body.contains(secret.as_str()), "{body}");
        }
        assert!(
            !body.contains("lin-sub") && !body.contains("pat-sub"),
            "{body}"
        );
    }
    assert_eq!(mails.len(), 2, "one mail per link: {mails:?}");
}

/// Review finding M3: a link removed by its owner or by an operator is not made again by
/// the verified email alone, for the same identity or another one: the password links it.
async fn oidc_a_removed_link_is_made_again_only_with_the_password(backend: Backend) {
    let Some(w) = world(backend, |_| {}).await else {
        return;
    };
    verified_ada(&w).await;
    let (browser, answer) = through_the_provider(&w, "ada-sub").await;
    assert_eq!(location(&answer), "/user/api-keys", "linked by the email");
    let removed = remove_own_link(&w, &browser, "ada-sub").await;
    assert_eq!(removed.status(), 303);

    // The same identity again: the email no longer links it.
    let (browser, answer) = through_the_provider(&w, "ada-sub").await;
    assert_eq!(location(&answer), "/sign-in/oidc/link");
    assert!(!signed_in(&w, &browser).await);
    let form = text_of(&w, &browser, "/sign-in/oidc/link").await;
    assert!(form.contains("removed before"), "the page says why: {form}");
    assert_eq!(link_with_password(&w, &browser).await.status(), 303);
    assert!(signed_in(&w, &browser).await, "the password links it");

    // The operator removes it; another identity with the same email does not link either.
    let (code, _, err) =
        remove_sso_link(&w.app, "ada@example.com", &w.provider.issuer, "ada-sub").await;
    assert_eq!(code, 0, "{err}");
    w.provider
        .account("ada-other-sub", "ada@example.com", true)
        .await;
    let (browser, answer) = through_the_provider(&w, "ada-other-sub").await;
    assert_eq!(location(&answer), "/sign-in/oidc/link");
    assert!(!signed_in(&w, &browser).await);
    let (browser, answer) = through_the_provider(&w, "ada-sub").await;
    assert_eq!(location(&answer), "/sign-in/oidc/link");
    assert!(!signed_in(&w, &browser).await);
}

/// A browser whose requests come, through the trusted proxy, from `address`.
fn browser_from(address: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-forwarded-for", address.parse().unwrap());
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap()
}

/// Review finding M2: when the table of sign-ins in progress is full, a start from
/// elsewhere is not refused: the address with the most flows gives up its oldest, and the
/// others' flows stay.
async fn oidc_a_full_table_of_sign_ins_evicts_the_oldest_of_the_address_with_the_most(
    backend: Backend,
) {
    let Some(w) = world_with(
        backend,
        |o| o.max_flows = 5,
        |s| s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()],
    )
    .await
    else {
        return;
    };
    w.provider.account("bea-sub", "bea@example.com", true).await;
    w.provider.account("cy-sub", "cy@example.com", true).await;
    let start = |browser: reqwest::Client| {
        let url = w.app.url("/sign-in/oidc");
        async move { browser.get(url).send().await.unwrap() }
    };
    // Three starts from one address (the first one kept), two from another: full.
    let hammer = browser_from("198.51.100.1");
    let oldest = location(&start(hammer.clone()).await);
    for _ in 0..2 {
        w.app.clock.advance(time::Duration::seconds(1));
        assert_eq!(start(browser_from("198.51.100.1")).await.status(), 303);
    }
    w.app.clock.advance(time::Duration::seconds(1));
    let bea = browser_from("203.0.113.7");
    let bea_back = started_and_signed_in_at_the_provider(&w, &bea, "bea-sub").await;
    w.app.clock.advance(time::Duration::seconds(1));
    assert_eq!(start(browser_from("203.0.113.7")).await.status(), 303);
    let flows = w.app.read(keyward::db::models::oidc::OidcFlow::count).await;
    assert_eq!(flows, 5, "the table is full");

    // A person from a third address starts and finishes a sign-in.
    let cy = browser_from("192.0.2.9");
    let back = started_and_signed_in_at_the_provider(&w, &cy, "cy-sub").await;
    let flows = w.app.read(keyward::db::models::oidc::OidcFlow::count).await;
    assert_eq!(flows, 5, "one flow made room for the new one");
    cy.get(back).send().await.unwrap();
    assert!(signed_in(&w, &cy).await);

    // The oldest flow of the address with the most is gone; the other address's stay.
    let back = w.provider.sign_in(&oldest, "bea-sub").await;
    let (status, body) = page_text(hammer.get(back).send().await.unwrap()).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("Start again from the sign-in page"), "{body}");
    bea.get(bea_back).send().await.unwrap();
    assert!(
        signed_in(&w, &bea).await,
        "the other address's sign-in finishes"
    );
}

/// Links `account_id` to `subject` at `issuer` in the database (a provider this Keyward
/// used before, say).
async fn linked_elsewhere(app: &TestApp, account_id: &str, issuer: &str, subject: &str) {
    let (account_id, issuer, subject) = (
        account_id.to_string(),
        issuer.to_string(),
        subject.to_string(),
    );
    app.run(move |conn, now| {
        keyward::db::models::oidc::OidcIdentity {
            issuer,
            subject,
            account_id,
            created_at: now,
            last_sign_in_at: now,
        }
        .insert(conn)?;
        Ok(())
    })
    .await
    .expect("a write to the database");
}

/// Review finding L4: a link to another issuer (a provider used before) signs nobody in,
/// so it does not count as a way in when the last link to the configured one is removed.
async fn oidc_the_last_link_kept_in_a_requiring_tenant_is_the_one_to_the_configured_provider(
    backend: Backend,
) {
    let Some(w) = world(backend, |_| {}).await else {
        return;
    };
    let tenant = w.app.create_tenant("acme").await;
    let ada = w
        .app
        .create_person("ada@example.com", &tenant.id, Role::Admin)
        .await;
    verified(&w.app, &ada.id, "ada@example.com").await;
    w.provider.account("ada-sub", "ada@example.com", true).await;
    let (browser, _) = through_the_provider(&w, "ada-sub").await;
    let (status, body) = post_sso_requirement(&w.app, &browser, true).await;
    assert_eq!(status, 303, "{body}");
    linked_elsewhere(&w.app, &ada.id, "https://old-idp.example.com", "ada-old").await;

    let (status, body) = page_text(remove_own_link(&w, &browser, "ada-sub").await).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body.contains("last link to the identity provider"),
        "{body}"
    );
    assert!(signed_in(&w, &browser).await, "the link and session stay");
    // The other issuer's link may go.
    let removed = remove_link(&w, &browser, "https://old-idp.example.com", "ada-old").await;
    assert_eq!(removed.status(), 303);
}

/// The account's recovery codes not used yet.
async fn unused_recovery_codes(app: &TestApp, account_id: &str) -> i64 {
    let account_id = account_id.to_string();
    app.read(move |conn| {
        use diesel::prelude::*;
        use keyward::db::schema::two_factor_recovery_codes::dsl as r;
        r::two_factor_recovery_codes
            .filter(r::account_id.eq(account_id))
            .filter(r::used_at.is_null())
            .count()
            .get_result(conn)
    })
    .await
}

/// Review finding L5: the link step checks that the account is not linked already before
/// it takes a recovery code, so a refused link does not use one up.
async fn oidc_a_recovery_code_is_not_spent_on_a_link_that_is_refused(backend: Backend) {
    let Some(w) = world(backend, |_| {}).await else {
        return;
    };
    let tenant = w.app.create_tenant("acme").await;
    let carol = w
        .app
        .create_person("carol@example.com", &tenant.id, Role::User)
        .await;
    let (_, codes) =
        crate::two_factor::enrol_as(&w.app, &Browser::new(&w.app), "carol@example.com").await;
    w.provider
        .account("carol-sub", "carol@example.com", true)
        .await;
    let (browser, answer) = through_the_provider(&w, "carol-sub").await;
    assert_eq!(location(&answer), "/sign-in/oidc/link");
    // Meanwhile (another tab) the account was linked to another identity there.
    linked_elsewhere(&w.app, &carol.id, &w.provider.issuer, "carol-other").await;
    let before = unused_recovery_codes(&w.app, &carol.id).await;
    let (status, body) = page_text(
        browser
            .post(w.app.url("/sign-in/oidc/link"))
            .form(&[("password", PASSWORD), ("code", codes[0].as_str())])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("already linked"), "{body}");
    assert_eq!(
        unused_recovery_codes(&w.app, &carol.id).await,
        before,
        "the recovery code is still there"
    );
}

/// Renames the table of sign-ins in progress (`away`), or names it back: Keyward's own
/// database then fails every statement on it, as a lock wait cut off or a lost
/// connection would.
async fn flows_table_away(app: &TestApp, away: bool) {
    let (from, to) = match away {
        true => ("oidc_flows", "oidc_flows_away"),
        false => ("oidc_flows_away", "oidc_flows"),
    };
    let sql = format!("ALTER TABLE {from} RENAME TO {to}");
    app.run(move |conn, _| {
        use diesel::RunQueryDsl;
        match conn {
            keyward::db::DbConnection::Sqlite(c) => diesel::sql_query(&sql).execute(c),
            keyward::db::DbConnection::Postgres(c) => diesel::sql_query(&sql).execute(c),
        }?;
        Ok(())
    })
    .await
    .expect("a change of the schema");
}

/// Review finding L6: when Keyward's own database fails while a sign-in starts, the page
/// says to try again (503) and does not blame the provider (502, "cannot be reached").
/// And a password sign-in refused by a tenant that requires single sign-on names no
/// button "above" that may not be there.
async fn oidc_a_database_that_does_not_answer_is_not_blamed_on_the_provider(backend: Backend) {
    let Some(w) = world(backend, |_| {}).await else {
        return;
    };
    flows_table_away(&w.app, true).await;
    let (status, body) = page_text(
        client()
            .get(w.app.url("/sign-in/oidc"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    flows_table_away(&w.app, false).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("Try again in a moment"), "{body}");
    assert!(!body.contains("cannot be reached"), "{body}");
    let (status, _) = page_text(
        client()
            .get(w.app.url("/sign-in/oidc"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 303, "starts work again");

    let tenant = w.app.create_tenant("acme").await;
    w.app
        .create_person("ada@example.com", &tenant.id, Role::User)
        .await;
    requires_sso(&w.app, &tenant.id).await;
    let (status, body) = page_text(
        client()
            .post(w.app.url("/login"))
            .form(&[("email", "ada@example.com"), ("password", PASSWORD)])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("requires single sign-on"), "{body}");
    assert!(!body.contains("the button above"), "{body}");
    assert!(body.contains("if the page shows no such button"), "{body}");
}

/// The tenants acme and globex, and a person who is an admin of both.
async fn in_acme_and_globex(
    w: &World,
    email: &str,
) -> (
    crate::support::Seeded,
    crate::support::Seeded,
    crate::support::Seeded,
) {
    let acme = w.app.create_tenant("acme").await;
    let globex = w.app.create_tenant("globex").await;
    let person = w.app.create_person(email, &acme.id, Role::Admin).await;
    w.app.add_member(&person.id, &globex.id, Role::Admin).await;
    (acme, globex, person)
}

/// Marks the tenant as requiring single sign-on (what an admin's Team › Settings does).
async fn requires_sso(app: &TestApp, tenant_id: &str) {
    let id = tenant_id.to_string();
    app.run(move |conn, now| {
        keyward::db::models::oidc::TenantSsoRequirement::set(conn, &id, true, now)?;
        Ok(())
    })
    .await
    .expect("a write to the database");
}

/// The key as stored (`None`: deleted).
async fn stored_key(app: &TestApp, key_id: &str) -> Option<keyward::db::models::ApiKey> {
    let id = key_id.to_string();
    app.read(move |conn| keyward::db::models::ApiKey::find(conn, &id))
        .await
}

/// Review finding L1 and the rest of the refusals: a password session of a member of a
/// tenant that requires single sign-on does not see its own keys of that tenant on User ›
/// API Keys, and may neither delete them, change their allow-lists, nor make a key there
/// (rotation is in the test above); in the member's other tenant all of it works.
async fn oidc_a_password_session_neither_sees_nor_changes_its_keys_of_a_requiring_tenant(
    backend: Backend,
) {
    let Some(w) = world(backend, |_| {}).await else {
        return;
    };
    let (acme, globex, bob) = in_acme_and_globex(&w, "bob@example.com").await;
    let (acme_key, _) = w.app.create_key(&bob.id, &acme.id, None).await;
    let (globex_key, _) = w.app.create_key(&bob.id, &globex.id, None).await;
    requires_sso(&w.app, &acme.id).await;
    let browser = Browser::new(&w.app);
    let csrf = browser.sign_in("bob@example.com").await;

    let page = browser.text("/user/api-keys").await;
    assert!(page.contains(&globex_key), "{page}");
    assert!(
        !page.contains(&acme_key),
        "acme's key is not listed: {page}"
    );

    for (key, refused) in [(&acme_key, true), (&globex_key, false)] {
        let res = browser
            .post(
                &format!("/user/api-keys/{key}/allowed-ips"),
                &[("csrf_token", csrf.as_str()), ("allowed_ips", "10.0.0.0/8")],
            )
            .await;
        let allowed = stored_key(&w.app, key).await.unwrap().allowed_ips;
        match refused {
            true => {
                assert!(res.status().is_client_error(), "{}", res.status());
                assert_eq!(allowed, None, "acme's allow-list is unchanged");
            }
            false => assert_eq!(allowed.as_deref(), Some("10.0.0.0/8")),
        }
        let res = browser
            .post(
                &format!("/user/api-keys/{key}/delete"),
                &[("csrf_token", csrf.as_str())],
            )
            .await;
        let kept = stored_key(&w.app, key).await.is_some();
        match refused {
            true => {
                assert!(res.status().is_client_error(), "{}", res.status());
                assert!(kept, "acme's key is not deleted");
            }
            false => assert!(!kept, "globex's key is deleted"),
        }
    }

    for (tenant, refused) in [(&acme, true), (&globex, false)] {
        let (csrf, nonce) = browser.open_create_form().await;
        let res = browser
            .post(
                "/user/api-keys",
                &[
                    ("csrf_token", csrf.as_str()),
                    ("nonce", nonce.as_str()),
                    ("name", "made by a password session"),
                    ("expiration", "never"),
                    ("tenant_id", tenant.id.as_str()),
                ],
            )
            .await;
        let status = res.status();
        let tenant_id = tenant.id.clone();
        let made = w
            .app
            .read(move |conn| {
                use diesel::prelude::*;
                use keyward::db::schema::api_keys::dsl as k;
                k::api_keys
                    .filter(k::tenant_id.eq(tenant_id))
                    .filter(k::name.eq("made by a password session"))
                    .count()
                    .get_result::<i64>(conn)
            })
            .await;
        match refused {
            true => {
                assert!(status.is_client_error(), "{status}");
                assert_eq!(made, 0, "no key made in acme");
            }
            false => assert_eq!(made, 1, "a key made in globex ({status})"),
        }
    }
}

/// The slugs of the tenants the account is a member of.
async fn tenants_of(app: &TestApp, account_id: &str) -> Vec<String> {
    let id = account_id.to_string();
    app.read(move |conn| {
        keyward::db::models::Membership::tenants_of(conn, &id)
            .map(|all| all.into_iter().map(|(t, _)| t.slug).collect())
    })
    .await
}

/// Review finding L3: as in GitLab's SSO-enforced groups, a password session does not
/// join a tenant that requires single sign-on through an invitation: it is told to sign
/// in through the provider and open the link again, which then works.
async fn oidc_joining_a_requiring_tenant_through_an_invitation_needs_a_session_through_the_provider(
    backend: Backend,
) {
    let Some(w) = world(backend, |_| {}).await else {
        return;
    };
    let acme = w.app.create_tenant("acme").await;
    let globex = w.app.create_tenant("globex").await;
    let ada = w
        .app
        .create_person("ada@example.com", &acme.id, Role::Admin)
        .await;
    let bob = w
        .app
        .create_person("bob@example.com", &globex.id, Role::User)
        .await;
    requires_sso(&w.app, &acme.id).await;
    let invitation = w.app.create_invitation(&ada.id, &acme.id, Role::User).await;
    let path = format!("/t/acme/join/{}", invitation.token);

    let password = Browser::new(&w.app);
    let csrf = password.sign_in("bob@example.com").await;
    let refused = password.post(&path, &[("csrf_token", csrf.as_str())]).await;
    let (status, body) = page_text(refused).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("requires single sign-on")
            && body.contains("open this invitation link again"),
        "{body}"
    );
    assert_eq!(tenants_of(&w.app, &bob.id).await, ["globex"]);

    verified(&w.app, &bob.id, "bob@example.com").await;
    w.provider.account("bob-sub", "bob@example.com", true).await;
    let (through, _) = through_the_provider(&w, "bob-sub").await;
    let page = text_of(&w, &through, "/user/api-keys").await;
    let csrf = input_value(&page, "csrf_token").unwrap();
    let joined = through
        .post(w.app.url(&path))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(joined.status(), 303, "the same link, through the provider");
    let mut tenants = tenants_of(&w.app, &bob.id).await;
    tenants.sort();
    assert_eq!(tenants, ["acme", "globex"]);

    // Someone new makes an account through the invitation's form: they join, and are
    // sent to the provider, where their new password links the account once.
    let invitation = w.app.create_invitation(&ada.id, &acme.id, Role::User).await;
    let dan = Browser::new(&w.app);
    let joined = dan
        .post(
            &format!("/t/acme/join/{}/account", invitation.token),
            &[
                ("email", "dan@example.com"),
                ("name", "Dan"),
                ("password", "a long enough password"),
            ],
        )
        .await;
    assert_eq!(joined.status(), 303);
    let res = dan.get("/user/api-keys").await;
    assert_eq!(
        crate::support::browser::location(&res),
        "/login?sso=required",
        "told to sign in through the provider"
    );
    w.provider.account("dan-sub", "dan@example.com", true).await;
    let (through, answer) = through_the_provider(&w, "dan-sub").await;
    assert_eq!(location(&answer), "/sign-in/oidc/link");
    let linked = through
        .post(w.app.url("/sign-in/oidc/link"))
        .form(&[("password", "a long enough password"), ("code", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(linked.status(), 303);
    assert!(
        signed_in(&w, &through).await,
        "in acme, through the provider"
    );
}

/// Every session of the account was opened `minutes` ago and used just now.
async fn signed_in_minutes_ago(app: &TestApp, account_id: &str, minutes: i64) {
    let id = account_id.to_string();
    app.run(move |conn, now| {
        use diesel::prelude::*;
        use keyward::db::schema::sessions::dsl as s;
        diesel::update(s::sessions.filter(s::account_id.eq(id)))
            .set((
                s::created_at.eq(now - time::Duration::minutes(minutes)),
                s::last_seen_at.eq(now),
            ))
            .execute(conn)?;
        Ok(())
    })
    .await
    .expect("a write to the database");
}

/// A provider session past `--oidc-session-hours` loses the tenant that requires single
/// sign-on, not the person's other tenant: it goes on there.
async fn oidc_a_provider_session_past_the_session_hours_keeps_the_persons_other_tenant(
    backend: Backend,
) {
    let Some(w) = world(backend, |s| s.session_hours = 1).await else {
        return;
    };
    let (acme, _, ada) = in_acme_and_globex(&w, "ada@example.com").await;
    requires_sso(&w.app, &acme.id).await;
    verified(&w.app, &ada.id, "ada@example.com").await;
    w.provider.account("ada-sub", "ada@example.com", true).await;
    let (browser, _) = through_the_provider(&w, "ada-sub").await;
    let get = |path: &str| browser.get(w.app.url(path)).send();
    assert_eq!(get("/t/acme/team/members").await.unwrap().status(), 200);

    signed_in_minutes_ago(&w.app, &ada.id, 61).await;
    let res = get("/t/acme/team/members").await.unwrap();
    assert_eq!(res.status(), 303, "acme sends her to the provider again");
    assert!(
        location(&res).starts_with("/sign-in/oidc"),
        "{}",
        location(&res)
    );
    assert_eq!(
        get("/t/globex/team/settings").await.unwrap().status(),
        200,
        "globex goes on"
    );
    assert!(signed_in(&w, &browser).await, "the session goes on");
}

/// The code step of a sign-in and the link step count wrong two-factor codes against the
/// same account: five wrong in each lock both, as ten in one would.
async fn oidc_the_link_step_and_the_sign_in_share_the_lock_of_wrong_two_factor_codes(
    backend: Backend,
) {
    let Some(w) = world(backend, |_| {}).await else {
        return;
    };
    let tenant = w.app.create_tenant("acme").await;
    w.app
        .create_person("carol@example.com", &tenant.id, Role::User)
        .await;
    let (secret, _) =
        crate::two_factor::enrol_as(&w.app, &Browser::new(&w.app), "carol@example.com").await;
    let right = crate::two_factor::code_at(&secret, w.app.clock.now());
    let wrong = if right == "111111" {
        "222222"
    } else {
        "111111"
    };
    w.provider
        .account("carol-sub", "carol@example.com", true)
        .await;
    let (linking, answer) = through_the_provider(&w, "carol-sub").await;
    assert_eq!(location(&answer), "/sign-in/oidc/link");
    let link = |code: &str| {
        linking
            .post(w.app.url("/sign-in/oidc/link"))
            .form(&[("password", PASSWORD), ("code", code)])
            .send()
    };
    let signing_in = Browser::new(&w.app);
    let res = signing_in.sign_in_with("carol@example.com", PASSWORD).await;
    assert_eq!(crate::support::browser::location(&res), "/login/two-factor");
    for i in 0..5 {
        assert_eq!(
            link(wrong).await.unwrap().status(),
            401,
            "link, wrong code {i}"
        );
        let res = signing_in
            .post("/login/two-factor", &[("code", wrong)])
            .await;
        assert_eq!(res.status(), 401, "sign-in, wrong code {i}");
    }
    let (status, body) = page_text(link(&right).await.unwrap()).await;
    assert_eq!(status, 429, "the link step is locked: {body}");
    let res = signing_in
        .post("/login/two-factor", &[("code", right.as_str())])
        .await;
    assert_eq!(res.status(), 429, "the sign-in's code step is locked");
    assert!(!signed_in(&w, &linking).await);
}

/// A start whose client address Keyward cannot tell (no peer address: a Unix socket, a
/// proxy in front that is not set up) gets no share of the per-address limit: it is
/// refused, with words saying what to fix, and stores nothing.
async fn oidc_a_start_without_a_client_address_is_refused_with_a_clear_error(backend: Backend) {
    use keyward::services::oidc::{start, SsoFailure};
    let Some(w) = world(backend, |_| {}).await else {
        return;
    };
    let sso = w.app.state.sso.clone().expect("single sign-on is set up");
    let state = &w.app.state;
    let Err(failure) = start(&state.db, &state.clock, sso, "/".into(), None).await else {
        panic!("a start without a client address was let through");
    };
    assert_eq!(failure, SsoFailure::NoClientAddress);
    assert_eq!(failure.status(), 400);
    let message = failure.message("Test IdP");
    assert!(
        message.contains("cannot tell which network your request came from")
            && message.contains("proxy settings"),
        "{message}"
    );
    let flows = w.app.read(keyward::db::models::oidc::OidcFlow::count).await;
    assert_eq!(flows, 0);
}

/// Attack review finding H1: a password reset through the mailed link removes every link
/// and verifies the email; the removal is recorded, so an identity at the provider that
/// claims the address (an attacker's, say) links again only with the new password.
async fn oidc_after_a_mailed_password_reset_a_link_needs_the_password_again(backend: Backend) {
    let Some((w, sink)) = world_with_mail(backend).await else {
        return;
    };
    verified_ada(&w).await;
    let (browser, answer) = through_the_provider(&w, "ada-sub").await;
    assert_eq!(location(&answer), "/user/api-keys", "linked by the email");

    // Ada resets her password through the link mailed to her.
    let asked = client()
        .post(w.app.url("/forgot-password"))
        .form(&[("email", "ada@example.com")])
        .send()
        .await
        .unwrap();
    assert!(asked.status().is_redirection() || asked.status().is_success());
    let mails = sink.wait_for_mails(2).await;
    let link = mails
        .iter()
        .find_map(|m| m.link())
        .unwrap_or_else(|| panic!("a reset link: {mails:?}"));
    let path = link
        .strip_prefix(&w.app.url(""))
        .unwrap_or(&link)
        .to_string();
    let resetting = client();
    let opened = resetting.get(w.app.url(&path)).send().await.unwrap();
    assert_eq!(location(&opened), "/reset-password", "{path}");
    let set = resetting
        .post(w.app.url("/reset-password"))
        .form(&[
            ("new_password", NEW_PASSWORD),
            ("new_password_again", NEW_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 303);
    assert!(
        !signed_in(&w, &browser).await,
        "the reset ended the session"
    );

    // An identity claiming the address (the same one, or another) is not linked silently.
    w.provider
        .account("mallory-sub", "ada@example.com", true)
        .await;
    for sub in ["mallory-sub", "ada-sub"] {
        let (browser, answer) = through_the_provider(&w, sub).await;
        assert_eq!(location(&answer), "/sign-in/oidc/link", "{sub}");
        assert!(!signed_in(&w, &browser).await, "{sub}");
        let form = text_of(&w, &browser, "/sign-in/oidc/link").await;
        assert!(form.contains("removed before"), "the page says why: {form}");
    }
}

/// Ada, a User of the tenant acme whose email Keyward verified, with the identity `ada-sub`
/// at the provider claiming that email.
async fn verified_ada(w: &World) -> crate::support::Seeded {
    let tenant = w.app.create_tenant("acme").await;
    let ada = w
        .app
        .create_person("ada@example.com", &tenant.id, Role::User)
        .await;
    verified(&w.app, &ada.id, "ada@example.com").await;
    w.provider.account("ada-sub", "ada@example.com", true).await;
    ada
}

/// Attack review finding M1: a removal of the account's links ends every session, but a
/// sign-in through the provider still in flight (committed, its session saved only after
/// the removal) would survive it: a session through the provider signed in at or before
/// the account's last link removal ends at its next request.
async fn oidc_a_provider_session_signed_in_before_a_link_removal_ends_at_its_next_request(
    backend: Backend,
) {
    let Some(w) = world(backend, |_| {}).await else {
        return;
    };
    let ada = verified_ada(&w).await;
    let (browser, _) = through_the_provider(&w, "ada-sub").await;
    assert!(signed_in(&w, &browser).await);

    // A removal that began before the sign-in and waited for its lock meanwhile (its
    // `now` is earlier than the sign-in's), its session left in place (as the session of
    // a sign-in in flight is, saved after the removal ended the others). The link's last
    // sign-in, read as the removal runs, dates it (second re-review's M1).
    let id = ada.id.clone();
    w.app
        .run(move |conn, now| {
            use keyward::db::models::oidc::{record_link_removal, OidcIdentity};
            let links_last_used = OidcIdentity::last_sign_in_of_account(conn, &id)?;
            let began = now - time::Duration::minutes(1);
            record_link_removal(conn, &id, began, links_last_used)?;
            Ok(())
        })
        .await
        .expect("a write to the database");
    let page = browser
        .get(w.app.url("/user/api-keys"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&page), "/login?sso=unlinked");
    assert!(!signed_in(&w, &browser).await, "the session ended");
}

/// Attack review finding L-b: a sign-in refused halfway writes nothing (the linking
/// transaction rolls back): with --oidc-default-tenant naming no tenant, the account made
/// for a first sign-in does not stay behind.
async fn oidc_a_first_sign_in_refused_halfway_leaves_no_account(backend: Backend) {
    let Some(w) = world(backend, |s| {
        s.default_tenant = Some(TenantSlug::parse("nowhere").unwrap());
    })
    .await
    else {
        return;
    };
    w.provider.account("new-sub", "new@example.com", true).await;
    let (browser, answer) = through_the_provider(&w, "new-sub").await;
    assert_eq!(answer.status(), 403);
    assert!(!signed_in(&w, &browser).await);
    assert_eq!(account_of_email(&w.app, "new@example.com").await, None);
}

/// Attack review finding L-e: removals of an account's links at the same moment (two
/// unlinks, an unlink and a reset) are all recorded, none refused by the database.
async fn oidc_link_removals_at_once_are_all_recorded(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("acme").await;
    let ada = app
        .create_person("ada@example.com", &tenant.id, Role::User)
        .await;
    for _round in 0..5 {
        let removals = (0..8).map(|_| {
            let id = ada.id.clone();
            app.run(move |conn, now| {
                keyward::db::models::oidc::record_link_removal(conn, &id, now, None)?;
                Ok(())
            })
        });
        for removal in futures_util::future::join_all(removals).await {
            removal.expect("a removal is recorded");
        }
    }
    let id = ada.id.clone();
    let removed = app
        .run(move |conn, _| Ok(keyward::db::models::oidc::link_was_removed(conn, &id)?))
        .await
        .unwrap();
    assert!(removed);
}

/// Attack review finding L-c: the banner of keys expiring soon leaves out, as the key list
/// does, a password session's own keys of a tenant that requires single sign-on.
async fn oidc_a_password_session_is_not_warned_of_its_expiring_keys_of_a_requiring_tenant(
    backend: Backend,
) {
    let Some(w) = world(backend, |_| {}).await else {
        return;
    };
    let (acme, globex, bob) = in_acme_and_globex(&w, "bob@example.com").await;
    let soon = Some(w.app.clock.now() + time::Duration::days(2));
    w.app.create_key(&bob.id, &acme.id, soon).await;
    w.app.create_key(&bob.id, &globex.id, soon).await;
    requires_sso(&w.app, &acme.id).await;
    let browser = Browser::new(&w.app);
    browser.sign_in("bob@example.com").await;
    let page = browser.text("/user/api-keys").await;
    assert!(
        page.contains("1 key you manage expires within 7 days"),
        "only globex's key is named: {page}"
    );
}
