//! Issue 17 point 10: names without format characters on every surface, a private
//! database file, and instances that start together on a fresh database.

use crate::backend_tests;
use crate::support::{Backend, ServerProcess, TestApp, TestDb};
use base64::Engine;
use keyward::domain::Role;
use serde_json::json;

backend_tests!(
    names_with_format_characters_are_refused_on_every_surface,
    two_servers_started_together_on_a_fresh_database_both_come_up,
);

async fn names_with_format_characters_are_refused_on_every_surface(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("acme").await;
    let ada = app
        .create_person("ada@example.com", &tenant.id, Role::Admin)
        .await;
    let (_, key) = app.create_key(&ada.id, &tenant.id, None).await;
    let look_alike = "admin\u{202e}\u{200b}key";
    let cases = [
        (
            "mutation($i: create_api_key_input!) { create_api_key(input: $i) { id } }",
            json!({ "i": { "user_id": ada.id, "name": look_alike } }),
        ),
        (
            "mutation($i: create_service_account_input!) { create_service_account(input: $i) { id } }",
            json!({ "i": { "name": look_alike } }),
        ),
    ];
    for (query, variables) in cases {
        let answer = app.graphql(Some(&key), query, variables, &[]).await;
        assert_eq!(
            answer["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{answer}"
        );
        assert!(
            answer["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("U+202E"),
            "{answer}"
        );
    }
    let (code, _, err) = crate::support::run_keyward(
        &[
            "admin",
            "create-tenant",
            "--database-url",
            &app.db.url,
            "--name",
            look_alike,
            "--slug",
            "other",
        ],
        "",
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("formatting characters"), "{err}");
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

async fn two_servers_started_together_on_a_fresh_database_both_come_up(backend: Backend) {
    let db = TestDb::new(backend);
    let dir = std::env::temp_dir().join(format!("keyward-pair-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = base64::engine::general_purpose::STANDARD.encode([7u8; 64]);
    let (url, secret) = match backend {
        // The default: keyward.db and its session secret made in the working directory.
        Backend::Sqlite => ("sqlite://keyward.db".to_string(), String::new()),
        Backend::Postgres => (db.url.clone(), secret),
    };
    let start = |dir: std::path::PathBuf, url: String, secret: String| {
        std::thread::spawn(move || {
            let mut envs = vec![("KEYWARD_DATABASE_URL", url.as_str())];
            if !secret.is_empty() {
                envs.push(("KEYWARD_SESSION_SECRET", secret.as_str()));
            }
            ServerProcess::start(&dir, &["serve"], &envs)
        })
    };
    let first = start(dir.clone(), url.clone(), secret.clone());
    let second = start(dir.clone(), url, secret);
    let servers: Vec<ServerProcess> = [first, second]
        .into_iter()
        .map(|t| {
            t.join()
                .unwrap()
                .unwrap_or_else(|(code, out)| panic!("a server exited with {code}: {out}"))
        })
        .collect();
    for server in &servers {
        let res = reqwest::get(server.url("/readyz")).await.unwrap();
        assert_eq!(res.status(), 200, "{}", server.output());
    }
    if backend == Backend::Sqlite {
        for file in [
            "keyward.db",
            "keyward.db-wal",
            "keyward.db-shm",
            "keyward.db.session-secret",
        ] {
            assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
        }
        let stray: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("keyward.db.session-secret."))
            .collect();
        assert!(stray.is_empty(), "{stray:?}");
    }
    drop(servers);
    let _ = std::fs::remove_dir_all(&dir);
}
