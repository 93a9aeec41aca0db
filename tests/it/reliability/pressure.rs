//! Concurrency: 2 × 1,000 key creations through GraphQL at once, with people signing in
//! beside them. Every one succeeds; "database is locked" never reaches a caller.

use super::{Caller, Figures};
use crate::backend_tests;
use crate::support::browser::Browser;
use crate::support::{Backend, TestApp};
use futures_util::{stream, StreamExt};
use keyward::domain::Role;

backend_tests!(two_thousand_concurrent_key_creations_and_sign_ins_all_succeed);

const PER_CREATOR: usize = 1_000;
const IN_FLIGHT: usize = 16;
const PEOPLE_SIGNING_IN: usize = 8;

async fn two_thousand_concurrent_key_creations_and_sign_ins_all_succeed(backend: Backend) {
    let _heavy = crate::support::HEAVY.write().await;
    // Each creator makes more keys than the default quota allows one account.
    let app = TestApp::spawn_with(backend, |s| s.quotas.max_keys_per_account = 100_000).await;
    let tenant = app.create_tenant("acme").await;
    let mut creators = Vec::new();
    for n in 0..2 {
        let person = app
            .create_person(&format!("creator{n}@example.com"), &tenant.id, Role::User)
            .await;
        let (_, key) = app.create_key(&person.id, &tenant.id, None).await;
        creators.push((person.id, key));
    }
    let mut people = Vec::new();
    for n in 0..PEOPLE_SIGNING_IN {
        people.push(
            app.create_person(&format!("p{n}@example.com"), &tenant.id, Role::User)
                .await,
        );
    }
    let caller = Caller::new(app.address.clone());
    let creations = creators.iter().map(|(user, key)| {
        let caller = caller.clone();
        stream::iter(0..PER_CREATOR)
            .map(move |i| {
                let (caller, user, key) = (caller.clone(), user.clone(), key.clone());
                async move {
                    let (status, answer) = caller
                        .gql(
                            Some(&key),
                            super::CREATE_KEY,
                            serde_json::json!({ "input": { "user_id": user, "name": format!("k{i}") } }),
                        )
                        .await
                        .expect("an answer");
                    (status, answer)
                }
            })
            .buffer_unordered(IN_FLIGHT)
            .collect::<Vec<_>>()
    });
    let sign_ins = people.iter().map(|p| {
        let browser = Browser::new(&app);
        let email = p.name.clone();
        async move {
            let res = browser.sign_in_with(&email, crate::support::PASSWORD).await;
            let status = res.status().as_u16();
            (
                status,
                browser.get("/user/api-keys").await.status().as_u16(),
            )
        }
    });
    let (created, signed_in) = tokio::join!(
        futures_util::future::join_all(creations),
        futures_util::future::join_all(sign_ins)
    );
    let mut figures = Figures::on("concurrent_creations_and_sign_ins", backend);
    let mut keys = std::collections::HashSet::new();
    for (status, answer) in created.into_iter().flatten() {
        figures.requests += 1;
        let text = answer.to_string();
        assert!(
            !text.contains("locked"),
            "a lock error reached a caller: {text}"
        );
        assert_eq!(status, 200, "{text}");
        let secret = answer["data"]["create_api_key"]["key"]
            .as_str()
            .unwrap_or_else(|| panic!("creation failed: {text}"));
        keys.insert(secret.to_string());
    }
    for (login, page) in signed_in {
        figures.requests += 2;
        assert_eq!((login, page), (303, 200), "a sign-in failed under load");
    }
    assert_eq!(
        keys.len(),
        2 * PER_CREATOR,
        "every creation made its own key"
    );
    // Every key works (a sample of each creator's, through the hot path).
    for key in keys.iter().step_by(20) {
        figures.requests += 1;
        assert_eq!(caller.whoami(key).await, 200);
    }
    figures.print();
}

/// Makes a file immutable (`chattr +i`, which binds root too, unlike file modes) until
/// dropped.
struct Immutable(std::path::PathBuf);

impl Immutable {
    fn new(path: std::path::PathBuf) -> Option<Self> {
        let ok = std::process::Command::new("chattr")
            .arg("+i")
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Immutable(path))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_sqlite_file_answers_503s_not_500s_or_panics() {
    let db = crate::support::TestDb::new(Backend::Sqlite);
    let seed = super::seed(&db.url);
    let Some(_guard) = Immutable::new(db.sqlite_path().unwrap()) else {
        eprintln!("skipped: chattr +i is not available here");
        return;
    };
    let app = keyward::startup::Application::build(
        crate::support::test_settings(&db),
        keyward::domain::Clock::system(),
    )
    .expect("a read-only database still opens for reading");
    let caller = Caller::new(format!("http://127.0.0.1:{}", app.port()));
    tokio::spawn(app.run_until_stopped());
    let mut figures = Figures::new("read_only_sqlite_file");
    for n in 0..20 {
        let (status, answer) = caller
            .gql(
                Some(&seed.admin_key),
                super::CREATE_KEY,
                serde_json::json!({ "input": { "user_id": seed.admin_id, "name": format!("k{n}") } }),
            )
            .await
            .expect("an answer");
        figures.requests += 1;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(
            super::error_code(&answer),
            Some("SERVICE_UNAVAILABLE"),
            "{answer}"
        );
        let res = caller
            .http
            .post(format!("{}/login", caller.base))
            .form(&[
                ("email", seed.admin_email.as_str()),
                ("password", crate::support::PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        figures.requests += 1;
        assert_eq!(res.status(), 503, "sign-in on a read-only database");
        assert!(res.text().await.unwrap().contains("try again"));
    }
    figures.faults = 1;
    figures.print();
}
