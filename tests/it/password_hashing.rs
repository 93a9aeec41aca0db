//! Issue 17.3: on the server every password hash waits for a turn among the bounded
//! hashers (`passwords::turns`), and no request holds a database connection while it waits
//! or hashes.

use crate::backend_tests;
use crate::support::{eventually, Backend, TestApp, PASSWORD};
use diesel::prelude::*;
use keyward::domain::Role;
use keyward::services::passwords;
use serde_json::json;

backend_tests!(
    password_changes_wait_for_a_hashing_turn_holding_no_connection,
    checks_dropped_while_they_wait_for_a_turn_give_their_place_back,
);

const CHANGE_PASSWORD: &str =
    "mutation($i: change_password_input!) { change_password(input: $i) { success } }";

async fn sign_in_failure_rows(app: &TestApp) -> i64 {
    use keyward::db::schema::sign_in_failures::dsl::*;
    app.run(|conn, _| Ok(sign_in_failures.count().get_result::<i64>(conn)?))
        .await
        .expect("count")
}

async fn password_changes_wait_for_a_hashing_turn_holding_no_connection(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("acme").await;
    // One change more than the pool has connections: were each holding one while it waits
    // for its turn, nothing else could get a connection.
    let changes = app.state.db.pool.max_size() as usize + 1;
    let mut keys = Vec::new();
    for i in 0..changes {
        let person = app
            .create_person(&format!("p{i}@example.com"), &tenant.id, Role::User)
            .await;
        keys.push(app.create_key(&person.id, &tenant.id, None).await.1);
    }
    let all_turns = passwords::max_concurrent_hashes() as u32;
    let held = passwords::turns()
        .acquire_many(all_turns)
        .await
        .expect("the hashing turns");

    let mut requests = Vec::new();
    for key in &keys {
        let (client, url, key) = (app.client.clone(), app.url("/graphql"), key.clone());
        let input = json!({ "i": { "current_password": PASSWORD, "new_password": "a brand new passphrase" } });
        requests.push(tokio::spawn(async move {
            let res = client
                .post(url)
                .bearer_auth(key)
                .json(&json!({ "query": CHANGE_PASSWORD, "variables": input }))
                .send()
                .await
                .expect("request");
            res.json::<serde_json::Value>().await.expect("JSON")
        }));
    }
    // Every change has counted its attempt and gone to wait for a turn.
    let app_ref = &app;
    eventually(
        "every change counted and waiting for a hashing turn",
        move || async move {
            (sign_in_failure_rows(app_ref).await >= changes as i64
                && passwords::waiting() >= changes)
                .then_some(())
        },
    )
    .await;
    assert!(
        requests.iter().all(|r| !r.is_finished()),
        "a password change finished without a hashing turn"
    );
    // All of them wait, and connections and key checks are still to be had.
    let accounts = app
        .run(|conn, _| {
            use keyward::db::schema::accounts::dsl::*;
            Ok(accounts.count().get_result::<i64>(conn)?)
        })
        .await
        .expect("a pooled connection while every change waits for a turn");
    assert_eq!(accounts, changes as i64);
    let whoami = app.get_with_key("/api/whoami", &keys[0]).await;
    assert_eq!(whoami.status(), 200);
    assert!(requests.iter().all(|r| !r.is_finished()));

    drop(held);
    for request in requests {
        let answer = request.await.expect("request task");
        assert_eq!(
            answer["data"]["change_password"]["success"], true,
            "{answer}"
        );
    }
    assert_eq!(sign_in_failure_rows(&app).await, 0);
}

/// Issue 23.5: a check whose future is dropped while it waits (its client went away)
/// leaves the queue. More of them than `MAX_WAITING` are dropped in rounds; were their
/// places kept, every later check would be refused (429) until a restart.
async fn checks_dropped_while_they_wait_for_a_turn_give_their_place_back(_backend: Backend) {
    let hash = passwords::HashedPassword::of(&keyward::domain::Password::offered(PASSWORD))
        .unwrap()
        .into_inner();
    let per_round = passwords::MAX_WAITING / 2;
    for _ in 0..3 {
        let held = passwords::turns()
            .acquire_many(passwords::max_concurrent_hashes() as u32)
            .await
            .expect("the hashing turns");
        let before = passwords::waiting();
        let checks: Vec<_> = (0..per_round)
            .map(|_| {
                let hash = hash.clone();
                tokio::spawn(async move {
                    passwords::verify_bounded(hash, keyward::domain::Password::offered(PASSWORD))
                        .await
                })
            })
            .collect();
        eventually("the checks queued", || {
            std::future::ready((passwords::waiting() >= before + per_round).then_some(()))
        })
        .await;
        for check in &checks {
            check.abort();
        }
        for check in checks {
            assert!(check.await.unwrap_err().is_cancelled());
        }
        drop(held);
    }
    // 3 × 32 places were taken and given back: fewer than MAX_WAITING are waiting now
    // (other tests may have a few), and a check runs.
    assert!(
        passwords::waiting() < passwords::MAX_WAITING / 2,
        "{} still counted as waiting",
        passwords::waiting()
    );
    let verified =
        passwords::verify_bounded(hash, keyward::domain::Password::offered(PASSWORD)).await;
    assert_eq!(verified.ok(), Some(true));
}
