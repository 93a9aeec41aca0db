//! The `keyward` binary: admin bootstrap, its errors, help texts, start-up failures, and
//! what a trace-level log of refused keys contains.

use crate::backend_tests;
use crate::support::{
    dump_database, run_keyward, Backend, ServerProcess, TestApp, TestDb, PASSWORD,
};
use clap::CommandFactory;
use keyward::domain::ApiKeyId;
use serde_json::Value;

backend_tests!(
    admin_cli_bootstraps_a_tenant_an_admin_and_a_key_and_stores_only_its_digest,
    duplicate_slugs_and_emails_are_clear_errors_with_exit_code_2,
    a_trace_log_never_shows_a_key_whatever_path_it_takes,
);

fn admin(db: &TestDb, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut all = vec!["admin", "--database-url", db.url.as_str()];
    all.extend_from_slice(args);
    run_keyward(&all, stdin)
}

fn json(out: &str) -> Value {
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not one JSON object ({e}): {out}"))
}

async fn admin_cli_bootstraps_a_tenant_an_admin_and_a_key_and_stores_only_its_digest(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let db = &app.db;
    let (code, out, err) = admin(
        db,
        &[
            "--json",
            "create-tenant",
            "--name",
            "Acme Corp",
            "--slug",
            "acme",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let tenant = json(&out);
    assert_eq!(
        (tenant["slug"].as_str(), tenant["name"].as_str()),
        (Some("acme"), Some("Acme Corp"))
    );
    let (code, out, err) = admin(
        db,
        &[
            "--json",
            "create-user",
            "--email",
            "Ada@Example.com",
            "--name",
            "Ada",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(code, 0, "{err}");
    let user = json(&out);
    assert_eq!(user["email"], "ada@example.com");
    let (code, _, err) = admin(
        db,
        &[
            "add-member",
            "--email",
            "ada@example.com",
            "--tenant",
            "acme",
            "--role",
            "admin",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = admin(
        db,
        &[
            "--json",
            "create-key",
            "--account",
            "ada@example.com",
            "--tenant",
            "acme",
            "--name",
            "ci",
            "--expires-at",
            "2031-01-01T00:00:00+00:00",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let key = json(&out);
    let secret = key["key"].as_str().unwrap().to_string();
    assert!(secret.starts_with("kwu_"));
    assert_eq!(key["tenant_id"], tenant["id"]);
    assert_eq!(key["account_id"], user["id"]);
    assert_eq!(key["expires_at"], "2031-01-01T00:00:00Z");
    assert_eq!(key["read_only"], false);
    // A read-only key from the command line: queries only.
    let (code, out, err) = admin(
        db,
        &[
            "--json",
            "create-key",
            "--account",
            "ada@example.com",
            "--tenant",
            "acme",
            "--name",
            "reader",
            "--read-only",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let reader = json(&out);
    assert_eq!(reader["read_only"], true);
    let whoami: serde_json::Value = app
        .get_with_key("/api/whoami", reader["key"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(whoami["read_only"], true, "{whoami}");
    let (code, out, err) = admin(
        db,
        &[
            "--json",
            "create-service-account",
            "--tenant",
            "acme",
            "--name",
            "deployer",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert!(json(&out)["id"].as_str().is_some());

    // The key works against the server on the same database…
    let res = app.get_with_key("/api/whoami", &secret).await;
    assert_eq!(res.status(), 200);
    let who: Value = res.json().await.unwrap();
    assert_eq!(
        (who["role"].as_str(), who["tenant_id"].as_str()),
        (Some("ADMIN"), tenant["id"].as_str())
    );
    // …and the database holds its digest, never the key.
    let dump = dump_database(&app).await;
    assert!(dump.contains(keyward::domain::TokenDigest::of(&secret).as_str()));
    assert!(!dump.contains(&secret) && !dump.contains(&secret[4..34]));
    assert!(
        !dump.contains(PASSWORD),
        "passwords are stored as argon2 hashes"
    );
    assert!(dump.contains("$argon2id$"));
}

async fn duplicate_slugs_and_emails_are_clear_errors_with_exit_code_2(backend: Backend) {
    let db = TestDb::new(backend);
    assert_eq!(
        admin(
            &db,
            &["create-tenant", "--name", "Acme", "--slug", "acme"],
            ""
        )
        .0,
        0
    );
    let (code, out, err) = admin(
        &db,
        &["create-tenant", "--name", "Acme again", "--slug", "acme"],
        "",
    );
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert_eq!(
        err.trim(),
        "error: a tenant with the slug \"acme\" already exists; choose another slug"
    );

    assert_eq!(
        admin(
            &db,
            &[
                "create-user",
                "--email",
                "ada@example.com",
                "--name",
                "Ada",
                "--password-stdin"
            ],
            PASSWORD
        )
        .0,
        0
    );
    let (code, _, err) = admin(
        &db,
        &[
            "create-user",
            "--email",
            "ADA@example.com",
            "--name",
            "Ada 2",
            "--password-stdin",
        ],
        PASSWORD,
    );
    assert_eq!(code, 2);
    assert_eq!(
        err.trim(),
        "error: an account with the email ada@example.com already exists"
    );

    for (args, stdin, says) in [
        (
            vec!["create-tenant", "--name", "Bad", "--slug", "Not A Slug"],
            "",
            "slug",
        ),
        (
            vec![
                "create-user",
                "--email",
                "nope",
                "--name",
                "N",
                "--password-stdin",
            ],
            PASSWORD,
            "email",
        ),
        (
            vec![
                "create-user",
                "--email",
                "b@example.com",
                "--name",
                "B",
                "--password-stdin",
            ],
            "short",
            "at least 8",
        ),
        (
            vec![
                "add-member",
                "--email",
                "ada@example.com",
                "--tenant",
                "acme",
                "--role",
                "owner",
            ],
            "",
            "admin, user, read-only",
        ),
        (
            vec![
                "add-member",
                "--email",
                "ada@example.com",
                "--tenant",
                "nope",
                "--role",
                "user",
            ],
            "",
            "no tenant",
        ),
        (
            vec![
                "create-key",
                "--account",
                "ada@example.com",
                "--tenant",
                "acme",
                "--name",
                "k",
            ],
            "",
            "not a member",
        ),
        (
            vec![
                "create-key",
                "--account",
                "ada@example.com",
                "--tenant",
                "acme",
                "--name",
                "k",
                "--expires-at",
                "2001-01-01T00:00:00Z",
            ],
            "",
            "future",
        ),
        (
            vec![
                "create-key",
                "--account",
                "ada@example.com",
                "--tenant",
                "acme",
                "--name",
                "k",
                "--expires-at",
                "9999-12-31T23:59:59-01:00",
            ],
            "",
            "RFC 3339",
        ),
        (vec!["delete-tenant", "--slug", "acme"], "", "--yes"),
    ] {
        let (code, _, err) = admin(&db, &args, stdin);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let (code, out, _) = admin(
        &db,
        &["--json", "delete-tenant", "--slug", "acme", "--yes"],
        "",
    );
    assert_eq!(code, 0);
    assert_eq!(json(&out)["deleted"], true);
}

#[test]
fn every_command_and_flag_has_a_description_in_help() {
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        if cmd.get_about().is_none() && !path.is_empty() {
            missing.push(format!("command `{path}`"));
        }
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            if arg.get_help().is_none() {
                missing.push(format!("flag --{id} of `keyward {path}`"));
            }
        }
        for sub in cmd.get_subcommands() {
            if sub.get_name() != "help" {
                walk(sub, format!("{path} {}", sub.get_name()).trim(), missing);
            }
        }
    }
    let mut missing = Vec::new();
    walk(&keyward::cli::Cli::command(), "", &mut missing);
    assert!(missing.is_empty(), "undocumented: {missing:?}");

    // And the binary prints them.
    for (args, flags) in [
        (
            vec!["--help"],
            vec!["--database-url", "--config", "serve", "migrate", "admin"],
        ),
        (
            vec!["serve", "--help"],
            vec![
                "--bind",
                "--public-url",
                "--log",
                "--trusted-proxies",
                "--database-url",
                "--oidc-issuer",
                "--oidc-client-id",
                "--oidc-client-secret-file",
                "--oidc-display-name",
                "--oidc-allowed-domains",
            ],
        ),
        (
            vec!["admin", "create-key", "--help"],
            vec!["--account", "--tenant", "--name", "--expires-at", "--json"],
        ),
        (
            vec!["admin", "create-user", "--help"],
            vec!["--email", "--name", "--password-stdin"],
        ),
        (
            vec!["admin", "delete-tenant", "--help"],
            vec!["--slug", "--yes"],
        ),
    ] {
        let (code, out, _) = run_keyward(&args, "");
        assert_eq!(code, 0);
        for flag in flags {
            assert!(
                out.contains(flag),
                "`keyward {}` does not mention {flag}",
                args.join(" ")
            );
        }
    }
}

#[test]
fn start_up_failures_are_one_clear_line_and_a_non_zero_exit() {
    let dir = std::env::temp_dir().join(format!("keyward-start-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = listener.local_addr().unwrap().to_string();
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![
                "serve",
                "--database-url",
                "sqlite:///no/such/folder/keyward.db",
            ],
            vec![],
            "does not exist",
        ),
        (
            vec!["serve", "--database-url", "mysql://localhost/keyward"],
            vec![],
            "must start with sqlite:// or postgres://",
        ),
        (
            vec!["serve", "--bind", taken.as_str()],
            vec![],
            "cannot listen on",
        ),
        (
            vec![
                "serve",
                "--database-url",
                "postgres://keyward:hunter2@127.0.0.1:1/keyward",
            ],
            vec![],
            "cannot connect to the database postgres://keyward:***@127.0.0.1:1/keyward",
        ),
        (
            vec!["serve"],
            vec![("KEYWARD_SESSION_SECRET", "c2hvcnQ=")],
            "at least 64 bytes",
        ),
        (
            vec!["serve", "--log", "keyward=loud"],
            vec![],
            "log setting",
        ),
        (
            vec![
                "serve",
                "--smtp-url",
                "smtp://keyward:hunter2@mail.example.com",
                "--mail-from",
                "keyward@example.com",
            ],
            vec![],
            "KEYWARD_SMTP_PASSWORD_FILE",
        ),
        (
            vec!["serve", "--smtp-password", "hunter2"],
            vec![],
            "--smtp-password-file",
        ),
        (
            vec!["serve", "--smtp-url", "smtp://mail.example.com"],
            vec![],
            "--mail-from",
        ),
        (
            vec![
                "serve",
                "--smtp-url",
                "smtp://mail.example.com",
                "--mail-from",
                "Keyward at example.com",
            ],
            vec![],
            "is not a mail address",
        ),
        (
            vec!["serve", "--smtp-url", "http://mail.example.com"],
            vec![("KEYWARD_MAIL_FROM", "keyward@example.com")],
            "the scheme must be smtp or smtps",
        ),
    ];
    for (args, envs, says) in cases {
        let result = ServerProcess::start(&dir, &args, &envs);
        let Err((code, output)) = result else {
            panic!("{args:?} started");
        };
        assert_ne!(code, 0, "{args:?}");
        let errors: Vec<&str> = output.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{args:?}: {output}");
        assert!(errors[0].contains(says), "{args:?}: {output}");
        assert!(
            !output.contains("panicked") && !output.contains("hunter2"),
            "{output}"
        );
    }
    drop(listener);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_without_a_session_secret_refuses_to_start() {
    if !crate::support::postgres_available() {
        return;
    }
    let db = TestDb::new(Backend::Postgres);
    let dir = std::env::temp_dir();
    let Err((code, output)) = ServerProcess::start(
        &dir,
        &["serve", "--database-url", &db.url],
        &[("KEYWARD_SESSION_SECRET", "")],
    ) else {
        panic!("started without a session secret");
    };
    assert_ne!(code, 0);
    assert!(
        output
            .contains("error: KEYWARD_SESSION_SECRET must be set when the database is PostgreSQL"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_start_creates_and_migrates_keyward_db_and_a_second_start_reuses_it() {
    let dir = std::env::temp_dir().join(format!("keyward-fresh-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let first = ServerProcess::start(&dir, &[], &[]).expect("starts with no arguments");
    let res = reqwest::get(first.url("/healthz")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        reqwest::get(first.url("/readyz")).await.unwrap().status(),
        200
    );
    first.stop();
    assert!(
        dir.join("keyward.db").is_file(),
        "keyward.db is created in the working directory"
    );
    let secret = dir.join("keyward.db.session-secret");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let secret_text = std::fs::read_to_string(&secret).unwrap();

    let url = format!("sqlite://{}", dir.join("keyward.db").display());
    let (code, _, err) = run_keyward(
        &[
            "admin",
            "--database-url",
            &url,
            "create-tenant",
            "--name",
            "Kept",
            "--slug",
            "kept",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");

    let second = ServerProcess::start(&dir, &["serve"], &[]).expect("starts again");
    assert_eq!(
        reqwest::get(second.url("/readyz")).await.unwrap().status(),
        200
    );
    second.stop();
    let (code, _, err) = run_keyward(
        &[
            "admin",
            "--database-url",
            &url,
            "create-tenant",
            "--name",
            "Kept",
            "--slug",
            "kept",
        ],
        "",
    );
    assert_eq!(
        code, 2,
        "the second start kept the first start's data: {err}"
    );
    assert_eq!(
        std::fs::read_to_string(&secret).unwrap(),
        secret_text,
        "the session secret is made once"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

async fn a_trace_log_never_shows_a_key_whatever_path_it_takes(backend: Backend) {
    let db = TestDb::new(backend);
    assert_eq!(
        admin(
            &db,
            &["create-tenant", "--name", "Acme", "--slug", "acme"],
            ""
        )
        .0,
        0
    );
    assert_eq!(
        admin(
            &db,
            &["create-tenant", "--name", "Other", "--slug", "other"],
            ""
        )
        .0,
        0
    );
    admin(
        &db,
        &[
            "create-user",
            "--email",
            "ada@example.com",
            "--name",
            "Ada",
            "--password-stdin",
        ],
        PASSWORD,
    );
    admin(
        &db,
        &[
            "add-member",
            "--email",
            "ada@example.com",
            "--tenant",
            "acme",
            "--role",
            "admin",
        ],
        "",
    );
    let make_key = |extra: &[&str]| {
        // Key names are unique per owner and tenant.
        let name = format!("k {}", uuid::Uuid::new_v4().simple());
        let mut args = vec![
            "--json",
            "create-key",
            "--account",
            "ada@example.com",
            "--tenant",
            "acme",
            "--name",
            &name,
        ];
        args.extend_from_slice(extra);
        let (code, out, err) = admin(&db, &args, "");
        assert_eq!(code, 0, "{err}");
        let v = json(&out);
        (
            v["id"].as_str().unwrap().to_string(),
            v["key"].as_str().unwrap().to_string(),
        )
    };
    let (_, valid) = make_key(&[]);
    let (expired_id, expired) = make_key(&["--expires-at", &rfc3339_in(2)]);
    let (revoked_id, revoked) = make_key(&[]);

    let secret = keyward::config::SessionSecret::generate();
    let secret_b64 = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(secret.expose())
    };
    let dir = std::env::temp_dir();
    let server = ServerProcess::start(
        &dir,
        &["serve", "--database-url", &db.url],
        &[
            ("KEYWARD_LOG", "trace"),
            ("KEYWARD_SESSION_SECRET", &secret_b64),
        ],
    )
    .expect("server starts");
    let client = reqwest::Client::new();
    let send = |authorization: Vec<reqwest::header::HeaderValue>, tenant: Option<String>| {
        let client = client.clone();
        let url = server.url("/api/whoami");
        async move {
            let mut headers = reqwest::header::HeaderMap::new();
            for v in authorization {
                headers.append("authorization", v);
            }
            if let Some(t) = tenant {
                headers.insert("x-keyward-tenant-id", t.parse().unwrap());
            }
            client
                .get(url)
                .headers(headers)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let call = |key: String, tenant: Option<String>| {
        send(vec![format!("Bearer {key}").parse().unwrap()], tenant)
    };
    assert_eq!(call(valid.clone(), None).await, 200);
    let other_tenant = uuid::Uuid::new_v4().to_string();
    assert_eq!(
        call(valid.clone(), Some(other_tenant)).await,
        401,
        "tenant mismatch"
    );
    let mut typo = valid.clone();
    typo.replace_range(10..11, if &valid[10..11] == "a" { "b" } else { "a" });
    assert_eq!(call(typo.clone(), None).await, 401, "checksum");
    assert_eq!(call(format!("{valid}x"), None).await, 401, "length");
    let unknown = keyward::domain::PlainToken::generate(keyward::domain::TokenKind::User);
    assert_eq!(
        call(unknown.expose_secret().to_string(), None).await,
        401,
        "unknown"
    );
    let (code, _, err) = run_keyward(
        &[
            "admin",
            "--database-url",
            &db.url,
            "--json",
            "create-tenant",
            "--name",
            "x",
            "--slug",
            "x",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    // Revoke through the service the server uses, then present the key again.
    let url = db.database_url();
    let revoke_id = revoked_id.clone();
    tokio::task::spawn_blocking(move || {
        let database = keyward::db::Database::open(&url).unwrap();
        let mut conn = database.pool.get().unwrap();
        let now = keyward::domain::Clock::system().now();
        keyward::services::api_keys::revoke_api_key(
            &mut conn,
            &keyward::services::Actor::operator(),
            now,
            &ApiKeyId::from_stored(&revoke_id),
        )
        .unwrap();
    })
    .await
    .unwrap();
    assert_eq!(call(revoked.clone(), None).await, 401, "revoked");
    // Expire a key under the running server (its clock cannot be moved from here).
    let url = db.database_url();
    tokio::task::spawn_blocking(move || {
        use diesel::prelude::*;
        use keyward::db::schema::api_keys;
        let mut conn = keyward::db::Database::connect_once(&url).unwrap();
        let past = time::macros::datetime!(2001-01-01 00:00:00);
        diesel::update(api_keys::table.find(expired_id))
            .set(api_keys::expires_at.eq(past))
            .execute(&mut conn)
            .unwrap();
    })
    .await
    .unwrap();
    assert_eq!(call(expired.clone(), None).await, 401, "expired");
    let bearer = |k: &str| reqwest::header::HeaderValue::from_str(&format!("Bearer {k}")).unwrap();
    assert_eq!(
        send(vec![bearer(&valid), bearer(&valid)], None).await,
        401,
        "two headers"
    );
    assert_eq!(
        send(vec![format!("Token {valid}").parse().unwrap()], None).await,
        401,
        "scheme"
    );
    assert_eq!(
        send(
            vec![
                reqwest::header::HeaderValue::from_bytes(format!("Bearer {valid}é").as_bytes())
                    .unwrap()
            ],
            None
        )
        .await,
        401,
        "non-ASCII"
    );
    assert_eq!(
        call(
            format!("eyJhbGciOiJIUzI1NiJ9.eyJrZXkiOiJ7fSJ9.{valid}"),
            None
        )
        .await,
        401,
        "legacy JWT"
    );
    let log = server.stop();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "the log ran at trace level"
    );
    assert!(log.contains("/api/whoami"), "requests were logged");
    for (what, key) in [
        ("valid", &valid),
        ("expired", &expired),
        ("revoked", &revoked),
        ("typo", &typo),
    ] {
        assert!(!log.contains(key.as_str()), "the {what} key is in the log");
        assert!(
            !log.contains(&key[4..34]),
            "the {what} key's random part is in the log"
        );
    }
    assert!(!log.contains(unknown.expose_secret()));
    assert!(
        !log.contains(&secret_b64),
        "the session secret is in the log"
    );
}

fn rfc3339_in(days: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::days(days);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}
