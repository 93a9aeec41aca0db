//! Leaked keys revoked (issue 29), from outside: GitLab's Token Revocation API on the real
//! server with its pre-shared token, `keyward admin revoke-token --stdin` as the real
//! binary, and Team › Security; the owner told by mail through a real SMTP server
//! (`support::smtp`).

use crate::backend_tests;
use crate::support::browser::Browser;
use crate::support::smtp::{outbox as every_outbox_row, Mail, MailWorld, ReceivedMail, SmtpSink};
use crate::support::{
    client, database_rows, run_keyward, seed_by_admin_cli, Backend, Seeded, ServerProcess, TestApp,
    TestDb,
};
use keyward::config::RevocationApiTokens;
use keyward::domain::{ApiKeyId, LeakSource, Role, TenantId};
use reqwest::StatusCode;
use serde_json::{json, Value};

backend_tests!(
    revocable_token_types_with_the_right_token_lists_the_published_type,
    revoke_tokens_with_a_wrong_token_answers_401_and_revokes_nothing,
    a_reported_key_is_refused_on_its_next_request_on_every_instance_and_its_owner_is_mailed,
    a_service_accounts_reported_key_is_mailed_to_the_tenants_admins,
    unknown_revoked_and_foreign_values_answer_204_and_change_nothing,
    malformed_bodies_unknown_types_and_oversized_requests_are_refused_clearly,
    reported_keys_are_rate_limited_per_token_and_instance,
    the_admin_cli_revokes_a_key_given_on_standard_input,
    team_security_revokes_a_pasted_key_of_its_own_tenant_only,
    the_token_comes_from_its_file_or_the_environment_and_a_short_one_is_refused_at_start_up,
    a_reported_key_never_reaches_the_servers_log,
    leaked_key_mails_are_bounded_on_their_own_and_never_go_to_the_one_who_reported,
    the_guides_ci_job_posts_findings_with_its_own_token_kept_out_of_arguments,
);

const TOKEN: &str = "gitlab-revocation-token-0123456789abcdef0123456789";
/// A second token, as a CI job posting gitleaks' findings would have.
const CI_TOKEN: &str = "ci-revocation-token-fedcba9876543210fedcba9876543210";
const TYPES: &str = "/api/secret-scanning/gitlab/v1/revocable_token_types";
const REVOKE: &str = "/api/secret-scanning/gitlab/v1/revoke_tokens";
const TYPE: &str = "gitleaks_rule_id_keyward_api_key";
const OWNER: &str = "owner@example.com";
const ADMIN: &str = "admin@example.com";
const LOCATION: &str = "https://gitlab.example.test/acme/app/-/blob/0123abc/.env#L3";

/// What this file seeds: a person and a key of theirs, and a tenant admin.
struct Seed {
    owner: Seeded,
    key_id: String,
    key: String,
}

type World = MailWorld<Seed>;

async fn seed(app: &TestApp, tenant: &Seeded) -> Seed {
    app.create_person(ADMIN, &tenant.id, Role::Admin).await;
    let owner = app.create_person(OWNER, &tenant.id, Role::User).await;
    let (key_id, key) = app.create_key(&owner.id, &tenant.id, None).await;
    Seed { owner, key_id, key }
}

fn with_token(s: &mut keyward::config::Settings) {
    s.revocation_api_tokens = Some(
        RevocationApiTokens::parse(&format!("# GitLab\n{TOKEN}\n# CI\n{CI_TOKEN}\n")).unwrap(),
    );
}

/// A server with mail through the sink and the revocation API on.
async fn world(backend: Backend) -> Option<World> {
    MailWorld::start(backend, Mail::On, None, with_token, seed).await
}

/// `POST revoke_tokens` with `authorization` (none: no header) and a JSON `body`.
async fn report(app: &TestApp, authorization: Option<&str>, body: &Value) -> reqwest::Response {
    let mut req = client().post(app.url(REVOKE)).json(body);
    if let Some(a) = authorization {
        req = req.header("Authorization", a);
    }
    req.send().await.expect("request")
}

fn finding(key: &str, location: &str) -> Value {
    json!({ "type": TYPE, "token": key, "location": location })
}

/// The `api_key.leaked` lines' details.
async fn leaked_lines(app: &TestApp) -> Vec<String> {
    use diesel::prelude::*;
    use keyward::db::schema::audit_events::dsl::*;
    app.read(|conn| {
        audit_events
            .filter(action.eq("api_key.leaked"))
            .select(detail)
            .load::<String>(conn)
    })
    .await
}

async fn revocable_token_types_with_the_right_token_lists_the_published_type(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_token).await;
    let res = client()
        .get(app.url(TYPES))
        .header("Authorization", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({ "types": [TYPE] })
    );
    // The type is what GitLab derives from the rule docs/SECRET-SCANNING.md publishes.
    let guide = include_str!("../../docs/SECRET-SCANNING.md");
    assert!(
        guide.contains("id = \"keyward_api_key\""),
        "the gitleaks rule's id"
    );
    assert!(guide.contains(TYPE));
    for wrong in [
        None,
        Some("Bearer ".to_string() + TOKEN),
        Some(TOKEN[1..].to_string()),
    ] {
        let mut req = client().get(app.url(TYPES));
        if let Some(w) = &wrong {
            req = req.header("Authorization", w.as_str());
        }
        assert_eq!(req.send().await.unwrap().status(), 401, "{wrong:?}");
    }
    // Without a configured token the routes are off, and say how to turn them on.
    let off = TestApp::spawn(backend).await;
    let res = client()
        .get(off.url(TYPES))
        .header("Authorization", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("KEYWARD_REVOCATION_API_TOKEN_FILE"));
}

async fn revoke_tokens_with_a_wrong_token_answers_401_and_revokes_nothing(backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    let body = json!([finding(&w.key, LOCATION)]);
    for wrong in [None, Some("nope"), Some(&TOKEN[..TOKEN.len() - 1])] {
        assert_eq!(
            report(&w.app, wrong, &body).await.status(),
            401,
            "{wrong:?}"
        );
    }
    assert_eq!(w.app.whoami_status(&w.key).await, 200);
    assert!(leaked_lines(&w.app).await.is_empty());
}

async fn a_reported_key_is_refused_on_its_next_request_on_every_instance_and_its_owner_is_mailed(
    backend: Backend,
) {
    let Some(w) = world(backend).await else {
        return;
    };
    let other = w.app.another_instance(|_| {});
    assert_eq!(other.whoami_status(&w.key).await, 200);
    let res = report(&w.app, Some(TOKEN), &json!([finding(&w.key, LOCATION)])).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(w.app.whoami_status(&w.key).await, 401);
    assert_eq!(other.whoami_status(&w.key).await, 401);

    let lines = leaked_lines(&w.app).await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains(LOCATION) && lines[0].contains("GitLab"),
        "{}",
        lines[0]
    );

    let mails = leak_mails(w.sink(), 1).await;
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.rcpt_tos, vec![OWNER.to_string()]);
    assert!(mail.subject.contains("leaked"), "{}", mail.subject);
    assert!(mail.body.contains("“test key”"), "{}", mail.body);
    assert!(mail.body.contains("“Tenant acme”"), "{}", mail.body);
    assert!(mail.body.contains(LOCATION), "{}", mail.body);
    assert!(!mail.body.contains(&w.key), "the mail never holds the key");

    // Reported again (GitLab retries, a second pipeline): nothing more happens.
    let again = report(&w.app, Some(TOKEN), &json!([finding(&w.key, LOCATION)])).await;
    assert_eq!(again.status(), StatusCode::NO_CONTENT);
    assert_eq!(leaked_lines(&w.app).await.len(), 1);
    assert_eq!(outbox(&w.app).await.len(), 1);
    let _ = &w.key_id;
}

async fn a_service_accounts_reported_key_is_mailed_to_the_tenants_admins(backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    let second_admin = "second-admin@example.com";
    w.app
        .create_person(second_admin, &w.tenant.id, Role::Admin)
        .await;
    let sa = w
        .app
        .create_service_account(&w.tenant.id, "CI deploy")
        .await;
    let (_, sa_key) = w.app.create_key(&sa.id, &w.tenant.id, None).await;
    // A location holding the key itself keeps it out of the audit log and the mail; so
    // does one holding another live key (here split by a control character).
    let location = format!(
        "build log: export KEYWARD_API_KEY={sa_key} OTHER={}\u{0}{}",
        &w.key[..10],
        &w.key[10..]
    );
    let res = report(&w.app, Some(TOKEN), &json!([finding(&sa_key, &location)])).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(w.app.whoami_status(&sa_key).await, 401);
    let mails = leak_mails(w.sink(), 2).await;
    let mut to: Vec<String> = mails.iter().flat_map(|m| m.rcpt_tos.clone()).collect();
    to.sort();
    assert_eq!(to, vec![ADMIN.to_string(), second_admin.to_string()]);
    for m in &mails {
        assert!(m.body.contains("service account “CI deploy”"), "{}", m.body);
        assert!(
            m.body.contains("KEYWARD_API_KEY=[the key] OTHER=[a key]"),
            "{}",
            m.body
        );
        assert!(!m.body.contains(&sa_key) && !m.body.contains(&w.key[10..]));
    }
    let lines = leaked_lines(&w.app).await;
    assert!(
        lines
            .iter()
            .all(|l| !l.contains(&sa_key) && !l.contains(&w.key[10..])),
        "{lines:?}"
    );
    let dump = crate::support::dump_database(&w.app).await;
    assert!(!dump.contains(&sa_key) && !dump.contains(&w.key[10..]));
    // The person's key was not reported and still works.
    assert_eq!(w.app.whoami_status(&w.key).await, 200);
}

async fn unknown_revoked_and_foreign_values_answer_204_and_change_nothing(backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    // A key revoked already, a well-formed key never issued, junk: all answered 204.
    let (revoked_id, revoked) = w.app.create_key(&w.owner.id, &w.tenant.id, None).await;
    w.app
        .run(move |conn, now| {
            keyward::services::api_keys::revoke_api_key(
                conn,
                &keyward::services::Actor::operator(),
                now,
                &ApiKeyId::from_stored(&revoked_id),
            )
        })
        .await
        .expect("revoked");
    let never = keyward::domain::PlainToken::generate(keyward::domain::TokenKind::User);
    // The new keys' notices are sent (or given up) first: the worker changing their rows is
    // not the report's doing.
    settled_outbox(&w.app).await;
    let before = database_rows(&w.app).await;
    let body = json!([
        finding(&revoked, LOCATION),
        finding(never.expose_secret(), LOCATION),
        finding("kwu_not-a-key", LOCATION),
        finding(&"x".repeat(5000), LOCATION),
        { "type": TYPE, "token": "", "location": null },
    ]);
    let res = report(&w.app, Some(TOKEN), &body).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(res.text().await.unwrap().is_empty());
    assert_eq!(database_rows(&w.app).await, before, "nothing changed");
    assert_eq!(w.app.whoami_status(&w.key).await, 200);
    // An empty report is well-formed too.
    assert_eq!(report(&w.app, Some(TOKEN), &json!([])).await.status(), 204);
}

async fn malformed_bodies_unknown_types_and_oversized_requests_are_refused_clearly(
    backend: Backend,
) {
    let Some(w) = world(backend).await else {
        return;
    };
    let cases = [
        (
            json!({ "type": TYPE, "token": w.key }),
            "must be a JSON array",
        ),
        (
            json!([{ "type": "gitleaks_rule_id_aws_access_token", "token": w.key }]),
            "does not revoke tokens of type",
        ),
        (json!([{ "type": TYPE }]), "\"token\" must be a string"),
        (
            json!([{ "type": TYPE, "token": 5 }]),
            "\"token\" must be a string",
        ),
        (json!(["x"]), "item 0 is not an object"),
    ];
    for (body, says) in cases {
        let res = report(&w.app, Some(TOKEN), &body).await;
        assert_eq!(res.status(), 400, "{body}");
        let text = res.text().await.unwrap();
        let message = serde_json::from_str::<Value>(&text).unwrap()["error"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(message.contains(says), "{body}: {text}");
        assert!(!text.contains(&w.key), "an error never echoes a token");
    }
    // A known type beside an unknown one: the whole request is refused, nothing revoked.
    let mixed = json!([
        finding(&w.key, LOCATION),
        { "type": "aws", "token": "x" }
    ]);
    assert_eq!(report(&w.app, Some(TOKEN), &mixed).await.status(), 400);
    assert_eq!(w.app.whoami_status(&w.key).await, 200);
    // Just above the body cap: 413, nothing read.
    let max = keyward::web::handlers::secret_scanning::MAX_BODY_BYTES;
    let big = json!([{ "type": TYPE, "token": "x", "location": "y".repeat(max) }]);
    assert_eq!(report(&w.app, Some(TOKEN), &big).await.status(), 413);
    // One token more than a request may carry: 400, saying to split it.
    let n = keyward::web::handlers::secret_scanning::MAX_TOKENS + 1;
    let many = Value::Array(vec![json!({ "type": TYPE, "token": "x" }); n]);
    let res = report(&w.app, Some(TOKEN), &many).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("send them in several"));
    // Not JSON at all.
    let res = client()
        .post(w.app.url(REVOKE))
        .header("Authorization", TOKEN)
        .body("type=x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("not valid JSON"));
}

async fn reported_keys_are_rate_limited_per_token_and_instance(backend: Backend) {
    let app = TestApp::spawn_with(backend, with_token).await;
    let per_minute = keyward::web::request_budget::REPORTED_KEYS_PER_MINUTE as usize;
    let batch = keyward::web::handlers::secret_scanning::MAX_TOKENS;
    let mut sent = 0;
    let mut n = 0;
    while sent + batch <= per_minute {
        // Distinct values (repeats count once); none is a key, so no database work.
        let body = Value::Array(
            (0..batch)
                .map(|i| json!({ "type": TYPE, "token": format!("junk-{n}-{i}") }))
                .collect(),
        );
        assert_eq!(report(&app, Some(CI_TOKEN), &body).await.status(), 204);
        sent += batch;
        n += 1;
    }
    // More than the few the bucket refills while the test runs.
    let body = Value::Array(
        (0..200)
            .map(|i| json!({ "type": TYPE, "token": format!("more-{i}") }))
            .collect(),
    );
    let res = report(&app, Some(CI_TOKEN), &body).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // The CI's token has spent its budget; GitLab's is untouched and still revokes.
    let tenant = app.create_tenant("acme").await;
    let person = app.create_person(OWNER, &tenant.id, Role::User).await;
    let (_, key) = app.create_key(&person.id, &tenant.id, None).await;
    let res = report(&app, Some(TOKEN), &json!([finding(&key, LOCATION)])).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.whoami_status(&key).await, 401);
    assert_eq!(
        report(&app, Some(CI_TOKEN), &json!([])).await.status(),
        StatusCode::NO_CONTENT,
        "an empty report takes nothing"
    );
    let res = report(&app, Some(CI_TOKEN), &body).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

async fn the_admin_cli_revokes_a_key_given_on_standard_input(backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    let url = w.app.db.url.clone();
    let key = w.key.clone();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        run_keyward(
            &[
                "admin",
                "--database-url",
                &url,
                "revoke-token",
                "--stdin",
                "--location",
                "pasted in #general",
            ],
            &format!("{key}\n"),
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("revoked key") && out.contains("api_key.leaked"),
        "{out}"
    );
    assert!(
        !out.contains(&w.key) && !err.contains(&w.key),
        "the key is never printed"
    );
    assert_eq!(w.app.whoami_status(&w.key).await, 401);
    let mails = leak_mails(w.sink(), 1).await;
    assert_eq!(mails[0].rcpt_tos, vec![OWNER.to_string()]);
    assert!(
        mails[0].body.contains("pasted in #general"),
        "{}",
        mails[0].body
    );
    assert!(mails[0].body.contains("an operator"), "{}", mails[0].body);

    let url = w.app.db.url.clone();
    let key = w.key.clone();
    let (again, junk, empty) = tokio::task::spawn_blocking(move || {
        let args = ["admin", "--database-url", &url, "revoke-token", "--stdin"];
        (
            run_keyward(&args, &key),
            run_keyward(&args, "kwu_123"),
            run_keyward(&args, "\n"),
        )
    })
    .await
    .unwrap();
    assert_eq!(again.0, 2, "{again:?}");
    assert!(
        again.2.contains("unknown or was revoked already"),
        "{again:?}"
    );
    assert_eq!(junk.0, 2);
    assert!(junk.2.contains("no Keyward API key"), "{junk:?}");
    assert_eq!(empty.0, 2);
    assert!(empty.2.contains("standard input is empty"), "{empty:?}");
    // A terminal on standard input is refused before anything is read (it would echo
    // the key as it is pasted), saying to pipe the key in.
    let url = w.app.db.url.clone();
    let (code, out) = tokio::task::spawn_blocking(move || {
        on_a_terminal(&["admin", "--database-url", &url, "revoke-token", "--stdin"])
    })
    .await
    .unwrap();
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("pipe the key in: keyward admin revoke-token --stdin < file"),
        "{out}"
    );
    // The value is never an argument.
    let (code, _, err) =
        tokio::task::spawn_blocking(|| run_keyward(&["admin", "revoke-token", "kwu_x"], ""))
            .await
            .unwrap();
    assert_eq!(code, 2, "{err}");
}

async fn team_security_revokes_a_pasted_key_of_its_own_tenant_only(backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    let other = w.app.create_tenant("globex").await;
    let outsider = w
        .app
        .create_person("outsider@example.com", &other.id, Role::Admin)
        .await;
    let (_, foreign_key) = w.app.create_key(&outsider.id, &other.id, None).await;

    // Members who are not admins cannot use the page.
    let user = Browser::new(&w.app);
    let user_csrf = user.sign_in(OWNER).await;
    assert_eq!(user.get("/t/acme/team/security").await.status(), 403);
    let res = user
        .post(
            "/t/acme/team/security/revoke-key",
            &[("csrf_token", &user_csrf), ("token", &w.key)],
        )
        .await;
    assert_eq!(res.status(), 403);
    assert_eq!(w.app.whoami_status(&w.key).await, 200);

    let admin = Browser::new(&w.app);
    let csrf = admin.sign_in(ADMIN).await;
    let page = admin.text("/t/acme/team/security").await;
    assert!(page.contains("id=\"found-key-form\""), "{page}");
    // The key goes into a text field that password managers neither fill nor offer to
    // save (no password field on the page), and that is never given a value.
    let field = page
        .split("<input id=\"found-key-token\"")
        .nth(1)
        .and_then(|rest| rest.split('>').next())
        .expect("the key's field");
    assert!(
        field.contains("type=\"text\"") && field.contains("autocomplete=\"off\""),
        "{field}"
    );
    assert!(!field.contains("value="), "{field}");
    assert!(!page.contains("type=\"password\""), "{page}");
    // Without the CSRF token nothing happens.
    let res = admin
        .post("/t/acme/team/security/revoke-key", &[("token", &w.key)])
        .await;
    assert_eq!(res.status(), 403);
    assert_eq!(w.app.whoami_status(&w.key).await, 200);

    // Another tenant's key is answered exactly as an unknown one, and stays.
    let unknown = keyward::domain::PlainToken::generate(keyward::domain::TokenKind::User);
    let mut answers = Vec::new();
    for value in [foreign_key.as_str(), unknown.expose_secret()] {
        let res = admin
            .post(
                "/t/acme/team/security/revoke-key",
                &[("csrf_token", &csrf), ("token", value), ("location", "x")],
            )
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let page = admin.text("/t/acme/team/security").await;
        assert!(!page.contains(value), "the value is never shown again");
        answers.push(page.replace(&csrf, ""));
    }
    assert_eq!(answers[0], answers[1]);
    assert!(answers[0].contains("nothing was revoked"), "{}", answers[0]);
    assert_eq!(w.app.whoami_status(&foreign_key).await, 200);

    // A malformed value gets its format error, and is not shown again either.
    let res = admin
        .post(
            "/t/acme/team/security/revoke-key",
            &[("csrf_token", &csrf), ("token", "kwu_abc")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = res.text().await.unwrap();
    assert!(page.contains("not a Keyward API key"), "{page}");
    assert!(!page.contains("kwu_abc"));

    // This tenant's key is revoked, audited and its owner mailed.
    let res = admin
        .post(
            "/t/acme/team/security/revoke-key",
            &[
                ("csrf_token", &csrf),
                ("token", &format!(" {} ", w.key)),
                ("location", "a screenshot in ticket #42"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = admin.text("/t/acme/team/security").await;
    assert!(page.contains("Revoked the key “test key”"), "{page}");
    assert!(!page.contains(&w.key));
    assert_eq!(w.app.whoami_status(&w.key).await, 401);
    let lines = leaked_lines(&w.app).await;
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].contains("a screenshot in ticket #42"),
        "{}",
        lines[0]
    );
    let mails = leak_mails(w.sink(), 1).await;
    assert_eq!(mails[0].rcpt_tos, vec![OWNER.to_string()]);
    let log = admin.text("/t/acme/team/audit-log").await;
    assert!(log.contains("API key found leaked and revoked"), "{log}");
}

async fn the_token_comes_from_its_file_or_the_environment_and_a_short_one_is_refused_at_start_up(
    backend: Backend,
) {
    let db = TestDb::new(backend);
    let dir = std::env::temp_dir().join(format!("keyward-rev-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("revocation-api-token");
    // GitLab's token and a CI's, one a line, with a comment.
    std::fs::write(&file, format!("# GitLab\n{TOKEN}\n{CI_TOKEN}\n")).unwrap();
    let file = file.display().to_string();
    let status = |server: &ServerProcess, token: &'static str| {
        let url = server.url(TYPES);
        async move {
            client()
                .get(url)
                .header("Authorization", token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    for env in [
        ("KEYWARD_REVOCATION_API_TOKEN_FILE", file.as_str()),
        ("KEYWARD_REVOCATION_API_TOKEN", TOKEN),
    ] {
        let server = ServerProcess::serve(&db.url, &[env]);
        assert_eq!(status(&server, TOKEN).await, 200, "{env:?}");
        assert_eq!(status(&server, "wrong").await, 401, "{env:?}");
        let ci = if env.1 == TOKEN { 401 } else { 200 };
        assert_eq!(status(&server, CI_TOKEN).await, ci, "{env:?}");
        let output = server.stop();
        assert!(!output.contains(TOKEN), "the token is never logged");
        assert!(!output.contains(CI_TOKEN), "the token is never logged");
    }
    // A short token, even beside a good one, stops the start and names its line only.
    let short = "short-revocation-token";
    let Err((code, output)) = ServerProcess::start(
        &dir,
        &["serve", "--database-url", &db.url],
        &[("KEYWARD_REVOCATION_API_TOKEN", &format!("{TOKEN}\n{short}"))],
    ) else {
        panic!("started with a short token");
    };
    assert_ne!(code, 0);
    assert!(
        output.contains("at least 32") && output.contains("line 2"),
        "{output}"
    );
    assert!(
        !output.contains(short) && !output.contains(TOKEN),
        "{output}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

async fn a_reported_key_never_reaches_the_servers_log(backend: Backend) {
    let db = TestDb::new(backend);
    let key = seed_by_admin_cli(&db.url, OWNER, Role::User).await;
    let server = ServerProcess::serve(
        &db.url,
        &[
            ("KEYWARD_REVOCATION_API_TOKEN", TOKEN),
            ("KEYWARD_LOG", "info"),
        ],
    );
    let whoami = |key: String| {
        let url = server.url("/api/whoami");
        async move {
            client()
                .get(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(whoami(key.clone()).await, 200);
    let location = format!("https://git.example.test/acme/-/blob/x/.env?k={key}");
    let res = client()
        .post(server.url(REVOKE))
        .header("Authorization", TOKEN)
        .json(&json!([finding(&key, &location), finding(&key, "again")]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(whoami(key.clone()).await, 401);
    let output = server.stop();
    assert!(output.contains("GitLab reported leaked tokens"), "{output}");
    assert!(!output.contains(&key), "the key is in the log:\n{output}");
    assert!(
        !output.contains(TOKEN),
        "the revocation token is in the log"
    );
}

/// Runs the keyward binary with `args` and a terminal (a pseudo-terminal, by Python's
/// `pty`) as its standard input, output and error; nothing is typed. Its exit code and
/// what it wrote. A run still waiting for input after 30 s is killed (and fails the test).
fn on_a_terminal(args: &[&str]) -> (i32, String) {
    let script = r#"
import json, os, pty, signal, sys
argv = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
signal.signal(signal.SIGALRM, lambda *_: os.kill(pid, signal.SIGKILL))
signal.alarm(30)
out = b""
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 99)
"#;
    let mut argv = vec![crate::support::keyward_bin()];
    argv.extend_from_slice(args);
    let out = std::process::Command::new("python3")
        .args(["-c", script, &serde_json::to_string(&argv).unwrap()])
        .output()
        .expect("python3");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The CI job of docs/SECRET-SCANNING.md, less its `apk` and `gitleaks` lines: its `jq`
/// step (a folded YAML scalar) and its posting step (a literal one), as shell.
fn the_guides_ci_script() -> String {
    let guide = include_str!("../../docs/SECRET-SCANNING.md");
    let job = guide
        .split("```yaml\nkeyward-leaked-keys:\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the CI job in the guide");
    assert!(
        !job.contains("artifacts"),
        "the job keeps no artifacts: {job}"
    );
    let lines: Vec<&str> = job.lines().collect();
    let start = |marker: &str| {
        lines
            .iter()
            .position(|l| l.trim() == marker)
            .unwrap_or_else(|| panic!("{marker} in {job}"))
    };
    let block = |from: usize| {
        lines[from + 1..]
            .iter()
            .take_while(|l| l.starts_with("      "))
            .map(|l| &l[6..])
            .collect::<Vec<_>>()
    };
    let jq = block(start("- >")).join(" ");
    let post = block(start("- |")).join("\n");
    format!("set -e\n{jq}\nrm gitleaks.json\n{post}\n")
}

async fn the_guides_ci_job_posts_findings_with_its_own_token_kept_out_of_arguments(
    backend: Backend,
) {
    let app = TestApp::spawn_with(backend, with_token).await;
    let tenant = app.create_tenant("acme").await;
    let person = app.create_person(OWNER, &tenant.id, Role::User).await;
    let (_, key) = app.create_key(&person.id, &tenant.id, None).await;
    let script = the_guides_ci_script();
    // Neither the token nor a key is a command's argument.
    assert!(script.contains("-H @keyward-headers") && script.contains("--data-binary @-"));
    assert!(!script.contains("--data \"$batch\""), "{script}");
    assert!(
        script
            .lines()
            .filter(|l| l.contains("$KEYWARD_REVOCATION_API_TOKEN"))
            .all(|l| l.trim_start().starts_with("printf ")),
        "{script}"
    );
    // What gitleaks would have written: the key, and another rule's finding.
    let dir = std::env::temp_dir().join(format!("keyward-ci-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let report = json!([
        { "RuleID": "keyward_api_key", "Secret": key, "File": "app/.env", "StartLine": 3 },
        { "RuleID": "aws-access-token", "Secret": "AKIA0000", "File": "x", "StartLine": 1 },
    ]);
    std::fs::write(dir.join("gitleaks.json"), report.to_string()).unwrap();
    let (url, cwd) = (app.address.clone(), dir.clone());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .args(["-c", &script])
            .current_dir(&cwd)
            .env("KEYWARD_URL", url)
            .env("KEYWARD_REVOCATION_API_TOKEN", CI_TOKEN)
            .env("CI_PROJECT_URL", "https://gitlab.example.test/acme/app")
            .env("CI_COMMIT_SHA", "0123abc")
            .output()
            .expect("sh")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(app.whoami_status(&key).await, 401);
    let lines = leaked_lines(&app).await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("https://gitlab.example.test/acme/app/-/blob/0123abc/app/.env#L3"),
        "{}",
        lines[0]
    );
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        left.is_empty(),
        "the job leaves the keys and the token behind: {left:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The recipients of the leaked-key mails queued, in the order they were.
async fn leak_mail_recipients(app: &TestApp) -> Vec<String> {
    let mut rows: Vec<_> = outbox(app)
        .await
        .into_iter()
        .filter(|r| r.kind == "mail.api_key_leaked")
        .collect();
    rows.sort_by_key(|r| r.created_at);
    rows.into_iter().map(|r| r.recipient).collect()
}

async fn leaked_key_mails_are_bounded_on_their_own_and_never_go_to_the_one_who_reported(
    backend: Backend,
) {
    use keyward::services::key_leaks::{self, Finding, LEAK_MAILS_PER_TENANT_PER_DAY};
    let Some(w) = MailWorld::start(
        backend,
        Mail::On,
        Some("https://keys.example.test"),
        |s| {
            with_token(s);
            s.quotas.max_mails_per_tenant_per_day = 2;
        },
        seed,
    )
    .await
    else {
        return;
    };
    let second_admin = "second-admin@example.com";
    let second = w
        .app
        .create_person(second_admin, &w.tenant.id, Role::Admin)
        .await;
    let sa = w
        .app
        .create_service_account(&w.tenant.id, "CI deploy")
        .await;

    // An admin pastes three keys of a service account in a row on Team › Security: all
    // three are revoked and audited; the other admin is mailed once in the hour, and the
    // one who pasted them never.
    let admin = Browser::new(&w.app);
    let csrf = admin.sign_in(ADMIN).await;
    let mut pasted = Vec::new();
    for i in 0..3 {
        let (_, key) = w.app.create_key(&sa.id, &w.tenant.id, None).await;
        let location = format!("paste {i}");
        let form = [
            ("csrf_token", csrf.as_str()),
            ("token", key.as_str()),
            ("location", location.as_str()),
        ];
        let res = admin.post("/t/acme/team/security/revoke-key", &form).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        pasted.push(key);
    }
    let page = admin.text("/t/acme/team/security").await;
    assert!(page.contains("within the hour"), "{page}");
    for key in &pasted {
        assert_eq!(w.app.whoami_status(key).await, 401);
    }
    let lines = leaked_lines(&w.app).await;
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(
        lines.iter().filter(|l| l.contains("1 held back")).count(),
        2,
        "{lines:?}"
    );
    assert_eq!(leak_mail_recipients(&w.app).await, vec![second_admin]);

    // The owner's key, reported by GitLab: a new address, mailed.
    let res = report(&w.app, Some(TOKEN), &json!([finding(&w.key, LOCATION)])).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let mails = leak_mails(w.sink(), 2).await;
    let mut to: Vec<String> = mails.iter().flat_map(|m| m.rcpt_tos.clone()).collect();
    to.sort();
    assert_eq!(to, vec![OWNER.to_string(), second_admin.to_string()]);

    // Two leaked-key mails today, the tenant's mail quota is 2: an invitation is still
    // mailed (leaked-key mails do not count against it).
    let settings = w.app.state.settings.clone();
    let (tenant_id, creator) = (w.tenant.id.clone(), second.id.clone());
    let invited = w
        .app
        .run(move |conn, now| {
            keyward::services::invitations::create_invitation_within(
                conn,
                &keyward::services::Actor::person(creator, None),
                now,
                &TenantId::from_stored(&tenant_id),
                keyward::services::invitations::InvitationRequest {
                    role: Role::User,
                    note: None,
                    email: Some(keyward::domain::Email::parse("grace@example.com")?),
                },
                &settings.quotas,
                &keyward::services::mail::MailLinks::of(&settings),
            )
        })
        .await
        .expect("the invitation is mailed");
    assert_eq!(invited.mailed_to.as_deref(), Some("grace@example.com"));

    // Over the next 20 hours a key of the service account (both admins) and one of the
    // owner are reported each hour: at most LEAK_MAILS_PER_TENANT_PER_DAY are queued,
    // every key is revoked and audited all the same.
    let (tenant_id, owner_id, sa_id) = (w.tenant.id.clone(), w.owner.id.clone(), sa.id.clone());
    let mut later = Vec::new();
    for hour in 1..=20 {
        let (_, sa_key) = w.app.create_key(&sa_id, &tenant_id, None).await;
        let (_, owner_key) = w.app.create_key(&owner_id, &tenant_id, None).await;
        later.extend([sa_key.clone(), owner_key.clone()]);
        let revoked = w
            .app
            .run(move |conn, now| {
                let at = now + time::Duration::hours(hour) + time::Duration::minutes(1);
                let mut revoked = 0;
                for key in [sa_key, owner_key] {
                    let finding = Finding::new(&key, Some("CI"), LeakSource::GitLab);
                    let leak = key_leaks::revoke_found_key(
                        conn,
                        &keyward::services::Actor::operator(),
                        at,
                        &finding,
                        None,
                    )?;
                    revoked += usize::from(leak.is_some());
                }
                Ok(revoked)
            })
            .await
            .unwrap();
        assert_eq!(revoked, 2, "hour {hour}");
    }
    assert_eq!(
        leak_mail_recipients(&w.app).await.len() as i64,
        LEAK_MAILS_PER_TENANT_PER_DAY
    );
    assert_eq!(leaked_lines(&w.app).await.len(), 3 + 1 + later.len());
    for key in &later {
        assert_eq!(w.app.whoami_status(key).await, 401);
    }
}

/// The regular expression docs/SECRET-SCANNING.md publishes (its gitleaks rule's), run by
/// Python's `re` (for this pattern the same as gitleaks' RE2) over generated keys of both
/// kinds, in the contexts keys are found in, and near misses.
#[test]
fn the_published_pattern_finds_generated_keys_and_nothing_else() {
    use keyward::domain::{PlainToken, TokenKind};
    let guide = include_str!("../../docs/SECRET-SCANNING.md");
    let pattern = guide
        .lines()
        .find_map(|l| l.strip_prefix("regex = '''"))
        .and_then(|l| l.strip_suffix("'''"))
        .expect("the gitleaks rule's regex");
    let mut found = Vec::new();
    let mut texts = Vec::new();
    for kind in [TokenKind::User, TokenKind::ServiceAccount] {
        for _ in 0..50 {
            let key = PlainToken::generate(kind).expose_secret().to_string();
            texts.push(format!("KEYWARD_API_KEY={key}\n"));
            texts.push(format!("{{\"key\": \"{key}\"}}"));
            texts.push(format!("curl -H 'Authorization: Bearer {key}'"));
            found.push(key);
        }
    }
    let key = &found[0];
    let misses = [
        format!("{key}x"),                             // longer: not a key
        key[..39].to_string(),                         // shorter
        format!("xkwu_{}", &key[4..]),                 // inside a longer word
        format!("kwx_{}", &key[4..]),                  // another prefix
        format!("kwu_{}-{}", &key[4..20], &key[21..]), // a character outside base62
    ];
    let script = "import re, sys, json\nd = json.load(sys.stdin)\nprint(json.dumps([m for t in d['texts'] for m in re.findall(d['pattern'], t)]))";
    let input = serde_json::json!({
        "pattern": pattern,
        "texts": texts.iter().chain(misses.iter()).collect::<Vec<_>>(),
    });
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let matched: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    let expected: Vec<String> = found
        .iter()
        .flat_map(|k| [k.clone(), k.clone(), k.clone()])
        .collect();
    assert_eq!(matched, expected);
}

/// The outbox's leaked-key mails (new-key notices and the rest left out: creating the keys
/// these tests report queues those too).
async fn outbox(app: &TestApp) -> Vec<keyward::db::models::OutboxRow> {
    every_outbox_row(app)
        .await
        .into_iter()
        .filter(|r| r.kind == "mail.api_key_leaked")
        .collect()
}

/// Waits (at most a minute) until at least `n` leaked-key mails arrived; returns them.
async fn leak_mails(sink: &SmtpSink, n: usize) -> Vec<ReceivedMail> {
    crate::support::eventually(&format!("{n} leaked-key mail(s) at the SMTP sink"), || {
        let mails: Vec<ReceivedMail> = sink
            .mails()
            .into_iter()
            .filter(|m| m.subject.contains("found leaked"))
            .collect();
        std::future::ready((mails.len() >= n).then_some(mails))
    })
    .await
}

/// Waits until no outbox row is pending (the worker sent or gave up every mail queued).
async fn settled_outbox(app: &TestApp) {
    crate::support::eventually("no outbox row pending", || async {
        let rows = every_outbox_row(app).await;
        rows.iter().all(|r| r.status != "pending").then_some(())
    })
    .await
}
