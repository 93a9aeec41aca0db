//! Outbound mail and the outbox (issue 25), from outside, with a real SMTP server
//! (`support::smtp`): invitations mailed under `--public-url` only, bound to their
//! address; one mail per invitation with two instances on one database, and when an
//! instance dies mid-send; retries, giving up with the reason on Team › Settings; metrics.

use crate::backend_tests;
use crate::ops::metrics::{sample, scrape, TOKEN as METRICS_TOKEN};
use crate::support::browser::Browser;
use crate::support::smtp::{mail_env, mail_through, outbox, Mail, MailWorld};
use crate::support::{client, eventually, Backend, Seeded, ServerProcess, TestApp};
use keyward::config::MetricsToken;
use keyward::db::models::OutboxRow;
use keyward::domain::Role;
use keyward::services::mail::MailKind;
use serde_json::{json, Value};
use std::time::Duration;

backend_tests!(
    an_invitation_with_an_email_mails_its_link_under_the_public_url,
    without_a_public_url_no_link_is_mailed_whatever_host_says,
    a_mailed_invitation_is_for_its_address_only,
    two_instances_send_one_mail_per_invitation,
    an_instance_killed_mid_send_leaves_the_mail_to_another_which_sends_it_once,
    a_failing_send_is_retried_then_given_up_with_its_reason_on_the_settings_page,
    metrics_count_sends_failures_and_the_outbox_depth,
    mails_are_limited_per_tenant_and_per_address_per_day_and_revoking_does_not_reset_it,
    a_refused_sender_is_retried_and_admins_see_no_server_words,
    a_send_ends_within_its_budget_however_slowly_the_server_answers,
    housekeeping_gives_up_mail_left_unsent_for_a_day_and_empties_it,
);

const PUBLIC_URL: &str = "https://keys.example.test";
const ADMIN: &str = "admin@example.com";
const CREATE: &str = "mutation($input: create_invitation_input!) { create_invitation(input: $input) { token mailed_to invitation { id email } } }";

/// What this file seeds on every `MailWorld`.
struct Admin {
    /// A full key of the tenant's human admin.
    key: String,
}

type World = MailWorld<Admin>;

/// A world whose own server has mail off (a sink runs for the processes a test starts).
async fn sink_only_world(backend: Backend) -> Option<World> {
    MailWorld::start(
        backend,
        Mail::SinkOnly,
        Some(PUBLIC_URL),
        |_| {},
        with_admin,
    )
    .await
}

async fn with_admin(app: &TestApp, tenant: &Seeded) -> Admin {
    let admin = app.create_person(ADMIN, &tenant.id, Role::Admin).await;
    // These tests count the outbox's invitation mails: no notice of the admin's new key.
    let admin_id = admin.id.clone();
    app.run(move |conn, now| {
        keyward::services::key_notices::set_notification(
            conn,
            &keyward::services::Actor::person(
                admin_id,
                None,
                keyward::services::SingleSignOn::Satisfied,
            ),
            now,
            keyward::services::key_notices::NoticeKind::KeyCreated,
            false,
        )
    })
    .await
    .expect("the admin's notices set");
    let (_, key) = app.create_key(&admin.id, &tenant.id, None).await;
    Admin { key }
}

/// `create_invitation` through `base`'s GraphQL with the admin key and extra `headers`.
async fn invite(base: &str, key: &str, input: Value, headers: &[(&str, &str)]) -> Value {
    let mut req = client()
        .post(format!("{base}/graphql"))
        .bearer_auth(key)
        .json(&json!({ "query": CREATE, "variables": { "input": input } }));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let res = req.send().await.expect("request");
    assert_eq!(res.status(), 200);
    res.json().await.expect("a JSON answer")
}

/// `invite` that must succeed; returns (token, invitation id).
async fn invited(base: &str, key: &str, input: Value) -> (String, String) {
    let answer = invite(base, key, input, &[]).await;
    assert!(answer["errors"].is_null(), "{answer}");
    let created = &answer["data"]["create_invitation"];
    (
        created["token"].as_str().unwrap().to_string(),
        created["invitation"]["id"].as_str().unwrap().to_string(),
    )
}

/// Invites `email` as a User through `base` (default: the world's server).
async fn invite_user(w: &World, base: Option<&str>, email: &str) -> (String, String) {
    let base = base.unwrap_or(&w.app.address);
    invited(base, &w.key, json!({ "role": "USER", "email": email })).await
}

/// Waits (at most a minute) until the outbox holds `n` rows, none of them pending.
async fn wait_for_outbox_done(app: &TestApp, n: usize) -> Vec<OutboxRow> {
    eventually(&format!("{n} outbox row(s) done"), move || async move {
        let rows = outbox(app).await;
        (rows.len() == n && rows.iter().all(|r| r.status != "pending")).then_some(rows)
    })
    .await
}

async fn an_invitation_with_an_email_mails_its_link_under_the_public_url(backend: Backend) {
    let Some(w) = MailWorld::start(backend, Mail::On, Some(PUBLIC_URL), |_| {}, with_admin).await
    else {
        return;
    };
    // Whatever Host and X-Forwarded-Host say, the link is built from --public-url.
    let answer = invite(
        &w.app.address,
        &w.key,
        json!({ "role": "USER", "email": " Grace@Example.com ", "note": "for Grace" }),
        &[
            ("host", "attacker.example"),
            ("x-forwarded-host", "attacker.example"),
        ],
    )
    .await;
    assert!(answer["errors"].is_null(), "{answer}");
    let created = &answer["data"]["create_invitation"];
    assert_eq!(created["mailed_to"], "grace@example.com");
    assert_eq!(created["invitation"]["email"], "grace@example.com");
    let token = created["token"].as_str().unwrap().to_string();

    let mails = w.sink().wait_for_mails(1).await;
    let mail = &mails[0];
    assert_eq!(mail.rcpt_tos, ["grace@example.com"]);
    assert_eq!(mail.mail_from, "keyward@example.com");
    assert_eq!(mail.subject, MailKind::Invitation.subject());
    assert!(mail.header("to").unwrap().contains("grace@example.com"));
    let link = mail.link().expect("a link in the mail");
    assert_eq!(link, format!("{PUBLIC_URL}/t/acme/join/{token}"));
    assert!(!mail.body.contains("attacker.example"), "{}", mail.body);
    assert!(
        mail.body.contains("“admin at example.com” invited you")
            && mail.body.contains("“Tenant acme”")
            && mail.body.contains("as User"),
        "{}",
        mail.body
    );

    // The admins see whom it was mailed to.
    let admin = Browser::new(&w.app);
    admin.sign_in(ADMIN).await;
    let members = admin.text("/t/acme/team/members").await;
    assert!(members.contains("mailed to grace@example.com"), "{members}");

    // Sent once, and the row no longer holds the body with its link.
    let rows = wait_for_outbox_done(&w.app, 1).await;
    assert_eq!(
        (rows[0].status.as_str(), rows[0].payload.as_str()),
        ("sent", "")
    );
    assert_eq!(w.sink().mails().len(), 1);

    // The link, followed: the new account takes the address it was mailed to.
    let path = link.strip_prefix(PUBLIC_URL).unwrap().to_string();
    let grace = Browser::new(&w.app);
    let page = grace.text(&path).await;
    assert!(
        page.contains("id=\"join-email-bound\"") && page.contains("value=\"grace@example.com\""),
        "{page}"
    );
    let joined = grace
        .post(
            &format!("{path}/account"),
            &[
                ("email", "mallory@example.com"),
                ("name", "Grace Hopper"),
                ("password", "a long enough password"),
            ],
        )
        .await;
    assert_eq!(joined.status(), 303, "{}", joined.text().await.unwrap());
    let tenant_id = w.tenant.id.clone();
    let (grace_role, mallory) = w
        .app
        .run(move |conn, _| {
            let grace = keyward::db::models::Account::find_by_email(conn, "grace@example.com")?
                .expect("an account with the invited address");
            let role =
                keyward::db::models::Membership::find(conn, &grace.id, &tenant_id)?.map(|m| m.role);
            let mallory = keyward::db::models::Account::find_by_email(conn, "mallory@example.com")?;
            Ok((role, mallory.is_some()))
        })
        .await
        .unwrap();
    assert_eq!(grace_role.as_deref(), Some("USER"));
    assert!(
        !mallory,
        "the typed address is not the one the link was for"
    );
}

async fn without_a_public_url_no_link_is_mailed_whatever_host_says(backend: Backend) {
    let Some(w) = MailWorld::start(backend, Mail::On, None, |_| {}, with_admin).await else {
        return;
    };
    let answer = invite(
        &w.app.address,
        &w.key,
        json!({ "role": "USER", "email": "grace@example.com" }),
        &[
            ("host", "keys.example.test"),
            ("x-forwarded-host", "keys.example.test"),
        ],
    )
    .await;
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{answer}"
    );
    let message = answer["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("--public-url"), "{message}");

    // The invite dialog says so, and a posted email comes back beside that reason.
    let admin = Browser::new(&w.app);
    let csrf = admin.sign_in(ADMIN).await;
    let dialog = admin.text("/t/acme/team/invitations/new").await;
    assert!(
        dialog.contains("id=\"invitation-mail-off\"") && dialog.contains("--public-url"),
        "{dialog}"
    );
    assert!(!dialog.contains("name=\"email\""));
    let refused = admin
        .post(
            "/t/acme/team/invitations",
            &[
                ("csrf_token", csrf.as_str()),
                ("role", "USER"),
                ("email", "grace@example.com"),
            ],
        )
        .await;
    assert_eq!(refused.status(), 422);
    let form = refused.text().await.unwrap();
    assert!(
        form.contains("invitation-email-error") && !form.contains("invitation-link"),
        "{form}"
    );

    // A link without an email is still made, to be passed on by hand; nothing is queued.
    let answer = invite(&w.app.address, &w.key, json!({ "role": "USER" }), &[]).await;
    assert!(answer["errors"].is_null(), "{answer}");
    assert!(answer["data"]["create_invitation"]["mailed_to"].is_null());
    assert!(outbox(&w.app).await.is_empty(), "nothing can ever be sent");
    assert!(w.sink().attempts().is_empty() && w.sink().mails().is_empty());
    let settings = admin.text("/t/acme/team/settings").await;
    assert!(
        settings.contains("id=\"mail-off\"") && settings.contains("--public-url"),
        "{settings}"
    );
}

async fn a_mailed_invitation_is_for_its_address_only(backend: Backend) {
    let Some(w) = MailWorld::start(backend, Mail::On, Some(PUBLIC_URL), |_| {}, with_admin).await
    else {
        return;
    };
    let other = w.app.create_tenant("other").await;
    w.app
        .create_person("bob@example.com", &other.id, Role::User)
        .await;
    w.app
        .create_person("grace@example.com", &other.id, Role::User)
        .await;
    let (token, _) = invited(
        &w.app.address,
        &w.key,
        json!({ "role": "ADMIN", "email": "grace@example.com" }),
    )
    .await;
    let path = format!("/t/acme/join/{token}");

    // Another account holding the link is refused, and told why.
    let bob = Browser::new(&w.app);
    let bob_csrf = bob.sign_in("bob@example.com").await;
    let page = bob.text(&path).await;
    assert!(
        page.contains("join-wrong-account") && !page.contains("id=\"join-form\""),
        "{page}"
    );
    let refused = bob.post(&path, &[("csrf_token", bob_csrf.as_str())]).await;
    assert_eq!(refused.status(), 403);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("sent to grace@example.com"));

    // The account with the address joins.
    let grace = Browser::new(&w.app);
    let grace_csrf = grace.sign_in("grace@example.com").await;
    let joined = grace
        .post(&path, &[("csrf_token", grace_csrf.as_str())])
        .await;
    assert_eq!(joined.status(), 303);
    let members = grace.text("/t/acme/team/members").await;
    assert!(members.contains("grace@example.com") && !members.contains("bob@example.com"));
    assert_eq!(
        w.sink().wait_for_mails(1).await[0].rcpt_tos,
        ["grace@example.com"]
    );
}

async fn two_instances_send_one_mail_per_invitation(backend: Backend) {
    let Some(w) = MailWorld::start(backend, Mail::On, Some(PUBLIC_URL), |_| {}, with_admin).await
    else {
        return;
    };
    let b = w
        .app
        .another_instance(|s| mail_through(s, w.sink(), Some(PUBLIC_URL)));
    let mut expected = Vec::new();
    for i in 0..12 {
        let on = if i % 2 == 0 { &w.app } else { &b };
        let email = format!("person{i:02}@example.com");
        invite_user(&w, Some(&on.address), &email).await;
        expected.push(email);
    }
    let rows = wait_for_outbox_done(&w.app, expected.len()).await;
    assert!(rows.iter().all(|r| r.status == "sent"), "{rows:?}");
    // Every row is marked sent only after its mail was accepted, and a sent row is never
    // claimed again: what the sink holds now is final.
    let mut received: Vec<String> = w
        .sink()
        .mails()
        .into_iter()
        .flat_map(|m| m.rcpt_tos)
        .collect();
    received.sort();
    assert_eq!(received, expected, "one mail per invitation");
}

async fn an_instance_killed_mid_send_leaves_the_mail_to_another_which_sends_it_once(
    backend: Backend,
) {
    // The test's own server has mail off: only the `keyward serve` processes send.
    let Some(w) = sink_only_world(backend).await else {
        return;
    };
    let env = mail_env(w.sink(), PUBLIC_URL, 4_000);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    w.sink().set_mode("stall");
    let first = ServerProcess::serve(&w.app.db.url, &env);
    let (token, _) = invite_user(&w, Some(&first.url("")), "grace@example.com").await;
    // The first instance is inside DATA, the server answering nothing: killed there.
    assert_eq!(w.sink().wait_for_attempts(1).await, ["stall"]);
    let first_log = first.stop();
    w.sink().set_mode("accept");

    // Another instance takes the row once the dead one's lease runs out.
    let second = ServerProcess::serve(&w.app.db.url, &env);
    let mails = w.sink().wait_for_mails(1).await;
    let rows = wait_for_outbox_done(&w.app, 1).await;
    assert_eq!(rows[0].status, "sent");
    assert!(rows[0].attempts >= 2, "{rows:?}");
    assert_eq!(w.sink().mails().len(), 1, "sent once");
    assert_eq!(
        w.sink()
            .attempts()
            .iter()
            .filter(|m| *m == "accept")
            .count(),
        1
    );
    assert_eq!(
        mails[0].link().unwrap(),
        format!("{PUBLIC_URL}/t/acme/join/{token}")
    );
    let second_log = second.stop();
    for log in [first_log, second_log] {
        assert!(
            !log.contains(&token) && !log.contains("/join/") && !log.contains("Hello,"),
            "a log shows the mail: {log}"
        );
    }
}

async fn a_failing_send_is_retried_then_given_up_with_its_reason_on_the_settings_page(
    backend: Backend,
) {
    let Some(w) = MailWorld::start(backend, Mail::On, Some(PUBLIC_URL), |_| {}, with_admin).await
    else {
        return;
    };
    // Refused for now, each time: three attempts (the quick timing's limit), then given up.
    w.sink().set_mode("tempfail");
    invite_user(&w, None, "grace@example.com").await;
    let rows = wait_for_outbox_done(&w.app, 1).await;
    let row = &rows[0];
    assert_eq!((row.status.as_str(), row.attempts), ("failed", 3));
    assert_eq!(w.sink().attempts(), ["tempfail"; 3]);
    let reason = row.last_error.clone().unwrap_or_default();
    assert!(
        reason.contains("gave up after 3 attempts") && reason.contains("451"),
        "{reason}"
    );
    assert_eq!(row.payload, "", "a given-up row keeps no link");

    let admin = Browser::new(&w.app);
    admin.sign_in(ADMIN).await;
    let settings = admin.text("/t/acme/team/settings").await;
    assert!(
        settings.contains("id=\"mail-last-failure\"")
            && settings.contains("Last send failed")
            && settings.contains("grace@example.com")
            && settings.contains("451")
            && settings.contains("it was given up"),
        "{settings}"
    );

    // Refused for good: given up after the first attempt.
    w.sink().set_mode("permfail");
    invite_user(&w, None, "hopper@example.com").await;
    let rows = wait_for_outbox_done(&w.app, 2).await;
    let row = rows
        .iter()
        .find(|r| r.recipient == "hopper@example.com")
        .unwrap();
    assert_eq!((row.status.as_str(), row.attempts), ("failed", 1));
    assert!(row
        .last_error
        .as_deref()
        .unwrap_or_default()
        .contains("550"));
    assert_eq!(w.sink().attempts().len(), 4);
    assert!(w.sink().mails().is_empty());
}

async fn metrics_count_sends_failures_and_the_outbox_depth(backend: Backend) {
    let Some(w) = MailWorld::start(
        backend,
        Mail::On,
        Some(PUBLIC_URL),
        |s| {
            s.metrics_token = Some(MetricsToken::parse(METRICS_TOKEN).unwrap());
            // A 2 s lease: a stalled exchange times out after 1 s and is tried again (with
            // attempts to spare for a slow machine).
            s.outbox.lease = Duration::from_secs(2);
            s.outbox.max_attempts = 10;
        },
        with_admin,
    )
    .await
    else {
        return;
    };
    let kind = [("kind", MailKind::Invitation.as_str())];
    let counters = |text: &str| {
        (
            sample(text, "keyward_outbox_sent_total", &kind),
            sample(text, "keyward_outbox_send_failures_total", &kind),
            sample(text, "keyward_outbox_given_up_total", &kind),
        )
    };
    let depth =
        |text: &str, status: &str| sample(text, "keyward_outbox_depth", &[("status", status)]);
    let before = counters(&scrape(&w.app).await);

    // While the server stalls, the mail waits: the depth says so.
    w.sink().set_mode("stall");
    invite_user(&w, None, "grace@example.com").await;
    w.sink().wait_for_attempts(1).await;
    let text = scrape(&w.app).await;
    assert_eq!(depth(&text, "pending"), 1.0, "{text}");

    // The stalled attempt times out and fails; the next one goes through.
    w.sink().set_mode("accept");
    w.sink().wait_for_mails(1).await;
    wait_for_outbox_done(&w.app, 1).await;
    let text = scrape(&w.app).await;
    let after = counters(&text);
    assert!(after.0 >= before.0 + 1.0, "{before:?} {after:?}");
    assert!(after.1 >= before.1 + 1.0, "{before:?} {after:?}");
    assert_eq!(depth(&text, "pending"), 0.0);

    // A refusal for good: given up, and counted as failed in the depth.
    w.sink().set_mode("permfail");
    invite_user(&w, None, "hopper@example.com").await;
    wait_for_outbox_done(&w.app, 2).await;
    let text = scrape(&w.app).await;
    let last = counters(&text);
    assert!(last.2 >= before.2 + 1.0, "{before:?} {last:?}");
    assert_eq!(
        (depth(&text, "pending"), depth(&text, "failed")),
        (0.0, 1.0)
    );
}

const REVOKE: &str =
    "mutation($input: revoke_invitation_input!) { revoke_invitation(input: $input) { success } }";

/// The first error's message of a GraphQL answer that must have failed with bad input.
fn refusal(answer: &Value) -> String {
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{answer}"
    );
    answer["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn mails_are_limited_per_tenant_and_per_address_per_day_and_revoking_does_not_reset_it(
    backend: Backend,
) {
    let Some(w) = MailWorld::start(
        backend,
        Mail::On,
        Some(PUBLIC_URL),
        |s| {
            s.quotas.max_mails_per_tenant_per_day = 4;
        },
        with_admin,
    )
    .await
    else {
        return;
    };
    let base = w.app.address.clone();
    // The server stalls: the mails wait, and revoking cancels them unsent. They count all
    // the same (else inviting and revoking while a send is under way mails without bound).
    w.sink().set_mode("stall");
    // One address gets three mails a day from a tenant, whatever is revoked.
    for _ in 0..3 {
        let (_, id) = invite_user(&w, None, "grace@example.com").await;
        let answer = client()
            .post(format!("{base}/graphql"))
            .bearer_auth(&w.key)
            .json(&json!({ "query": REVOKE, "variables": { "input": { "id": id } } }))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap();
        assert!(answer["errors"].is_null(), "{answer}");
    }
    let to_grace = json!({ "role": "USER", "email": "grace@example.com" });
    let message = refusal(&invite(&base, &w.key, to_grace, &[]).await);
    assert!(
        message.contains("grace@example.com has been mailed 3 invitations"),
        "{message}"
    );
    // The tenant's fourth mail goes; its fifth, to anyone, does not, and says which
    // setting limits it.
    invite_user(&w, None, "hopper@example.com").await;
    let to_ada = json!({ "role": "USER", "email": "ada@example.com" });
    let message = refusal(&invite(&base, &w.key, to_ada, &[]).await);
    assert!(
        message.contains("4 mails queued in the last 24 hours")
            && message.contains("max_mails_per_tenant_per_day")
            && message.contains("KEYWARD_MAX_MAILS_PER_TENANT_PER_DAY"),
        "{message}"
    );
    // A link without an email is still made.
    let answer = invite(&base, &w.key, json!({ "role": "USER" }), &[]).await;
    assert!(answer["errors"].is_null(), "{answer}");
    let cancelled = outbox(&w.app)
        .await
        .into_iter()
        .filter(|r| r.status == "cancelled")
        .collect::<Vec<_>>();
    assert!(
        !cancelled.is_empty() && cancelled.iter().all(|r| r.payload.is_empty()),
        "{cancelled:?}"
    );
    // Another tenant has its own quota.
    let other = w.app.create_tenant("other").await;
    let admin = w
        .app
        .create_person("admin@other.example.com", &other.id, Role::Admin)
        .await;
    let (_, key) = w.app.create_key(&admin.id, &other.id, None).await;
    invited(
        &base,
        &key,
        json!({ "role": "USER", "email": "ada@example.com" }),
    )
    .await;
}

async fn a_refused_sender_is_retried_and_admins_see_no_server_words(backend: Backend) {
    let Some(w) = MailWorld::start(backend, Mail::On, Some(PUBLIC_URL), |_| {}, with_admin).await
    else {
        return;
    };
    // A 5xx to MAIL FROM (a relay's setting, a rotated account) is the operator's to fix:
    // tried again, all three attempts of the quick timing.
    w.sink().set_mode("rejectsender");
    invite_user(&w, None, "grace@example.com").await;
    let rows = wait_for_outbox_done(&w.app, 1).await;
    let row = &rows[0];
    assert_eq!(
        (row.status.as_str(), row.attempts),
        ("failed", 3),
        "{row:?}"
    );
    let reason = row.last_error.clone().unwrap_or_default();
    assert!(
        reason.contains("the mail server refused the sender (550)")
            && !reason.contains('@')
            && !reason.contains("not owned"),
        "{reason}"
    );

    // A 5xx to RCPT TO is for good; admins see the category and the code only, not the
    // server's words (which name the address, or the operator's account).
    w.sink().set_mode("rejectrcpt");
    invite_user(&w, None, "hopper@example.com").await;
    let rows = wait_for_outbox_done(&w.app, 2).await;
    let row = rows
        .iter()
        .find(|r| r.recipient == "hopper@example.com")
        .unwrap();
    assert_eq!(
        (row.status.as_str(), row.attempts),
        ("failed", 1),
        "{row:?}"
    );
    assert_eq!(
        row.last_error.as_deref(),
        Some("the mail server refused the recipient (550)")
    );
    let admin = Browser::new(&w.app);
    admin.sign_in(ADMIN).await;
    let settings = admin.text("/t/acme/team/settings").await;
    assert!(
        settings.contains("the mail server refused the recipient (550)")
            && !settings.contains("User unknown")
            && !settings.contains("ops@relay.test"),
        "{settings}"
    );
    assert!(w.sink().mails().is_empty());
}

async fn a_send_ends_within_its_budget_however_slowly_the_server_answers(backend: Backend) {
    // A 2 s lease: a send has 1 s in all. The server answers each step after 0.7 s, each
    // well within a step's own timeout, but together past the budget: every attempt is cut
    // off in time, none runs on past its claim.
    let Some(w) = MailWorld::start(
        backend,
        Mail::On,
        Some(PUBLIC_URL),
        |s| {
            s.outbox.lease = Duration::from_secs(2);
        },
        with_admin,
    )
    .await
    else {
        return;
    };
    w.sink().set_mode("slow");
    invite_user(&w, None, "grace@example.com").await;
    let rows = wait_for_outbox_done(&w.app, 1).await;
    let row = &rows[0];
    assert_eq!(row.status, "failed", "{row:?}");
    assert!(
        row.last_error
            .as_deref()
            .unwrap_or_default()
            .contains("did not answer in time"),
        "{row:?}"
    );
    assert!(w.sink().mails().is_empty(), "no send ran past its budget");
}

async fn housekeeping_gives_up_mail_left_unsent_for_a_day_and_empties_it(backend: Backend) {
    // Mail off on this server: rows queued earlier (when it was on) are never sent.
    let Some(w) = sink_only_world(backend).await else {
        return;
    };
    let tenant_id = w.tenant.id.clone();
    let swept = w
        .app
        .run(move |conn, now| {
            for (age, to) in [
                (time::Duration::hours(25), "old@example.com"),
                (time::Duration::hours(1), "new@example.com"),
            ] {
                keyward::services::outbox::enqueue(
                    conn,
                    now - age,
                    keyward::services::outbox::NewMessage {
                        kind: MailKind::Invitation.as_str(),
                        tenant_id: Some(tenant_id.clone()),
                        about_id: None,
                        recipient: to.into(),
                        payload: "Hello, https://keys.example.test/t/acme/join/secret".into(),
                    },
                )?;
            }
            keyward::services::housekeeping::sweep(conn, now, None)
        })
        .await
        .unwrap();
    assert_eq!(swept.outbox_stale, 1);
    let rows = outbox(&w.app).await;
    let old = rows
        .iter()
        .find(|r| r.recipient == "old@example.com")
        .unwrap();
    assert_eq!((old.status.as_str(), old.payload.as_str()), ("failed", ""));
    assert!(old
        .last_error
        .as_deref()
        .unwrap_or_default()
        .contains("not sent within a day"));
    let new = rows
        .iter()
        .find(|r| r.recipient == "new@example.com")
        .unwrap();
    assert_eq!(new.status, "pending");
    assert!(new.payload.contains("/join/"));
}
