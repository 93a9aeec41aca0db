//! Prefect 1.x agents against Keyward (issue 15): the exact documents `prefect agent local
//! start` sends (as its client formats them, with `variables` as a JSON string and the
//! agent id in `X-PREFECT-AGENT-ID`), the `agents` list, the clients seen per key, the
//! dashboard's service-account page and revoke dialog, and what an agent is told once
//! its key is revoked or its service account removed.

use crate::backend_tests;
use crate::support::browser::Browser;
use crate::support::{Backend, TestApp};
use keyward::domain::{ApiKeyId, Role};
use serde_json::{json, Value};
use time::Duration;

backend_tests!(
    a_prefect_agent_registers_polls_and_is_listed_with_its_key,
    polls_mark_the_agent_seen_at_most_once_a_minute_and_it_turns_silent_after_five,
    admins_see_every_agent_of_the_tenant_and_members_those_of_their_own_keys,
    agent_input_is_checked_with_a_message_saying_what_to_fix,
    after_revocation_the_next_poll_is_refused_naming_the_reason,
    agents_unseen_for_thirty_days_are_forgotten_by_the_periodic_clean_up,
    after_the_service_account_is_removed_its_agent_is_told_so,
    the_revoke_dialog_names_the_agents_that_used_the_key_in_the_last_day,
    clients_seen_per_key_are_few_and_written_at_most_once_a_minute,
    a_client_seen_while_every_connection_is_busy_is_written_once_one_is_free,
);

/// The documents exactly as Prefect 1.4's client formats them.
const AUTH_INFO: &str = "query {\n    auth_info {\n        tenant_id\n    }\n}";
const REGISTER: &str = "mutation($input: register_agent_input!) {\n    register_agent(input: $input) {\n        id\n    }\n}";
const HELLO: &str = "query { hello }";
const POLL: &str = "mutation($input: get_runs_in_queue_input!) {\n    get_runs_in_queue(input: $input) {\n        flow_run_ids\n    }\n}";
const AGENTS: &str = "query($tenant_id: UUID, $limit: Int, $offset: Int) { agents(tenant_id: $tenant_id, limit: $limit, offset: $offset) { id name type labels api_key_id api_key_name user_id tenant_id first_seen_at last_seen_at status } agents_aggregate(tenant_id: $tenant_id) { aggregate { count } } }";
const USER_AGENT: &str = "python-requests/2.31.0";

/// One request as the Prefect client sends it: `variables` JSON-encoded into a string,
/// its user agent, and the agent id once it has one.
async fn prefect(
    app: &TestApp,
    key: &str,
    agent_id: Option<&str>,
    query: &str,
    variables: Value,
) -> Value {
    let mut req = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(key)
        .header("User-Agent", USER_AGENT)
        .json(&json!({ "query": query, "variables": variables.to_string() }));
    if let Some(id) = agent_id {
        req = req.header("X-PREFECT-AGENT-ID", id);
    }
    let res = req.send().await.expect("request");
    assert_eq!(res.status(), 200);
    res.json().await.expect("JSON")
}

/// What `prefect agent local start -k KEY --name NAME -l etl` does up to its first poll;
/// returns the agent id.
async fn start_agent(app: &TestApp, key: &str, name: &str) -> String {
    let info = prefect(app, key, None, AUTH_INFO, json!({})).await;
    let tenant_id = info["data"]["auth_info"]["tenant_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{info}"))
        .to_string();
    let input = json!({ "input": {
        "type": "LocalAgent", "name": name, "labels": ["etl"],
        "tenant_id": tenant_id, "agent_config_id": null,
    }});
    let registered = prefect(app, key, None, REGISTER, input).await;
    let id = registered["data"]["register_agent"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{registered}"))
        .to_string();
    let hello = prefect(app, key, Some(&id), HELLO, json!({})).await;
    assert!(hello["data"]["hello"].is_string(), "{hello}");
    let polled = poll(app, key, &id, &tenant_id).await;
    assert_eq!(
        polled["data"]["get_runs_in_queue"]["flow_run_ids"],
        json!([]),
        "{polled}"
    );
    id
}

async fn poll(app: &TestApp, key: &str, agent_id: &str, tenant_id: &str) -> Value {
    let input = json!({ "input": {
        "before": "2026-11-28T12:00:10.123456+00:00", "labels": ["etl"], "tenant_id": tenant_id,
    }});
    prefect(app, key, Some(agent_id), POLL, input).await
}

async fn agents(app: &TestApp, key: &str, variables: Value) -> Value {
    app.graphql(Some(key), AGENTS, variables, &[]).await
}

fn agent_named<'a>(answer: &'a Value, name: &str) -> &'a Value {
    answer["data"]["agents"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("no agent {name} in {answer}"))
}

fn code(answer: &Value) -> &str {
    answer["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {answer}"))
}

fn message(answer: &Value) -> &str {
    answer["errors"][0]["message"].as_str().unwrap_or_default()
}

async fn revoke_as_operator(app: &TestApp, key_id: &str) {
    let key_id = key_id.to_string();
    app.run(move |conn, now| {
        keyward::services::api_keys::revoke_api_key(
            conn,
            &keyward::services::Actor::operator(),
            now,
            &ApiKeyId::from_stored(&key_id),
        )
    })
    .await
    .expect("revoked");
}

/// Runs `mutation { <field>(input: …) { success } }` and checks that it succeeded.
async fn succeed(app: &TestApp, key: &str, field: &str, input: Value) {
    let document =
        format!("mutation($input: {field}_input!) {{ {field}(input: $input) {{ success }} }}");
    let answer = app
        .graphql(Some(key), &document, json!({ "input": input }), &[])
        .await;
    assert_eq!(answer["data"][field]["success"], true, "{answer}");
}

struct Setup {
    app: TestApp,
    tenant: String,
    sa: String,
    key_id: String,
    key: String,
}

/// A tenant with a service account (ADMIN, as Prefect's are) and a key for its agent.
async fn setup(backend: Backend) -> Setup {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("acme").await.id;
    let sa = app.create_service_account(&tenant, "build bot").await.id;
    let (key_id, key) = app.create_key(&sa, &tenant, None).await;
    Setup {
        app,
        tenant,
        sa,
        key_id,
        key,
    }
}

async fn a_prefect_agent_registers_polls_and_is_listed_with_its_key(backend: Backend) {
    let s = setup(backend).await;
    let id = start_agent(&s.app, &s.key, "build-agent").await;

    let listed = agents(&s.app, &s.key, json!({})).await;
    let agent = agent_named(&listed, "build-agent");
    assert_eq!(agent["id"], id);
    assert_eq!(agent["type"], "LocalAgent");
    assert_eq!(agent["labels"], json!(["etl"]));
    assert_eq!(agent["api_key_id"], s.key_id);
    assert_eq!(agent["api_key_name"], "test key");
    assert_eq!(agent["user_id"], s.sa);
    assert_eq!(agent["tenant_id"], s.tenant);
    assert_eq!(agent["status"], "ACTIVE");
    assert!(agent["first_seen_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    assert_eq!(listed["data"]["agents_aggregate"]["aggregate"]["count"], 1);

    // An agent restarted with the same name is the same agent, not one more row.
    let again = start_agent(&s.app, &s.key, "build-agent").await;
    assert_eq!(again, id);
    let other = start_agent(&s.app, &s.key, "nightly-agent").await;
    assert_ne!(other, id);
    let listed = agents(&s.app, &s.key, json!({})).await;
    assert_eq!(
        listed["data"]["agents_aggregate"]["aggregate"]["count"], 2,
        "{listed}"
    );
}

async fn last_seen(app: &TestApp, key: &str, name: &str) -> String {
    let listed = agents(app, key, json!({})).await;
    agent_named(&listed, name)["last_seen_at"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn polls_mark_the_agent_seen_at_most_once_a_minute_and_it_turns_silent_after_five(
    backend: Backend,
) {
    let s = setup(backend).await;
    let id = start_agent(&s.app, &s.key, "build-agent").await;
    let registered = last_seen(&s.app, &s.key, "build-agent").await;

    s.app.clock.advance(Duration::seconds(30));
    poll(&s.app, &s.key, &id, &s.tenant).await;
    assert_eq!(last_seen(&s.app, &s.key, "build-agent").await, registered);

    s.app.clock.advance(Duration::seconds(40));
    poll(&s.app, &s.key, &id, &s.tenant).await;
    let polled = last_seen(&s.app, &s.key, "build-agent").await;
    assert!(polled > registered, "{polled} after {registered}");

    // The id in the input works like the header; another key's agent id is ignored.
    let (_, other_key) = s.app.create_key(&s.sa, &s.tenant, None).await;
    s.app.clock.advance(Duration::minutes(2));
    poll(&s.app, &other_key, &id, &s.tenant).await;
    assert_eq!(last_seen(&s.app, &s.key, "build-agent").await, polled);
    let input = json!({ "input": { "agent_id": id, "tenant_id": s.tenant } });
    let answer = prefect(&s.app, &s.key, None, POLL, input).await;
    assert_eq!(
        answer["data"]["get_runs_in_queue"]["flow_run_ids"],
        json!([])
    );
    assert!(last_seen(&s.app, &s.key, "build-agent").await > polled);

    s.app.clock.advance(Duration::minutes(6));
    let listed = agents(&s.app, &s.key, json!({})).await;
    assert_eq!(agent_named(&listed, "build-agent")["status"], "SILENT");
}

async fn admins_see_every_agent_of_the_tenant_and_members_those_of_their_own_keys(
    backend: Backend,
) {
    let s = setup(backend).await;
    let person = s
        .app
        .create_person("pat@example.com", &s.tenant, Role::User)
        .await
        .id;
    let (_, person_key) = s.app.create_key(&person, &s.tenant, None).await;
    start_agent(&s.app, &s.key, "build-agent").await;
    start_agent(&s.app, &person_key, "laptop-agent").await;

    let admin_view = agents(&s.app, &s.key, json!({ "tenant_id": s.tenant })).await;
    assert_eq!(
        admin_view["data"]["agents_aggregate"]["aggregate"]["count"],
        2
    );
    let member_view = agents(&s.app, &person_key, json!({})).await;
    let names: Vec<&str> = member_view["data"]["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["laptop-agent"], "{member_view}");
    assert_eq!(
        member_view["data"]["agents_aggregate"]["aggregate"]["count"],
        1
    );

    // Paged like every list, newest seen first, at most 1,000 rows an answer.
    let page = agents(&s.app, &s.key, json!({ "limit": 1, "offset": 1 })).await;
    assert_eq!(
        page["data"]["agents"].as_array().unwrap().len(),
        1,
        "{page}"
    );
    assert_eq!(page["data"]["agents"][0]["name"], "build-agent");
    let too_many = agents(&s.app, &s.key, json!({ "limit": 1001 })).await;
    assert_eq!(code(&too_many), "BAD_USER_INPUT");
    assert!(message(&too_many).contains("at most 1000"), "{too_many}");

    let other = s.app.create_tenant("globex").await.id;
    let foreign = agents(&s.app, &s.key, json!({ "tenant_id": other })).await;
    assert_eq!(code(&foreign), "FORBIDDEN", "{foreign}");
    let anonymous = s.app.graphql(None, AGENTS, json!({}), &[]).await;
    assert_eq!(code(&anonymous), "UNAUTHENTICATED");
}

async fn agent_input_is_checked_with_a_message_saying_what_to_fix(backend: Backend) {
    let s = setup(backend).await;
    let register = |input: Value| {
        let (app, key) = (&s.app, s.key.clone());
        async move { prefect(app, &key, None, REGISTER, json!({ "input": input })).await }
    };
    let labels: Vec<String> = (0..51).map(|i| format!("l{i}")).collect();
    let answer = register(json!({ "name": "a", "labels": labels })).await;
    assert_eq!(code(&answer), "BAD_USER_INPUT");
    assert!(message(&answer).contains("at most 50 labels"), "{answer}");

    let answer = register(json!({ "name": "x".repeat(201) })).await;
    assert_eq!(code(&answer), "BAD_USER_INPUT");
    assert!(message(&answer).contains("name"), "{answer}");

    let config = "6f0c0b3e-3a7e-4a43-9d6b-1c5a2b3c4d5e";
    let answer = register(json!({ "name": "a", "agent_config_id": config })).await;
    assert_eq!(code(&answer), "BAD_USER_INPUT");
    assert!(
        message(&answer).contains("agent configurations"),
        "{answer}"
    );

    let other = s.app.create_tenant("globex").await.id;
    let answer = register(json!({ "name": "a", "tenant_id": other })).await;
    assert_eq!(code(&answer), "FORBIDDEN", "{answer}");

    // Nothing was recorded by the refused registrations.
    let listed = agents(&s.app, &s.key, json!({})).await;
    assert_eq!(listed["data"]["agents_aggregate"]["aggregate"]["count"], 0);
}

async fn after_revocation_the_next_poll_is_refused_naming_the_reason(backend: Backend) {
    let s = setup(backend).await;
    let (_, admin_key) = s.app.create_key(&s.sa, &s.tenant, None).await;
    let id = start_agent(&s.app, &s.key, "build-agent").await;

    succeed(
        &s.app,
        &admin_key,
        "delete_api_key",
        json!({ "key_id": s.key_id }),
    )
    .await;

    let refused = poll(&s.app, &s.key, &id, &s.tenant).await;
    assert_eq!(refused["data"], Value::Null);
    assert_eq!(code(&refused), "UNAUTHENTICATED");
    assert!(
        message(&refused).contains("has been revoked (at ")
            && message(&refused).contains("\"build-agent\""),
        "{refused}"
    );
    let listed = agents(&s.app, &admin_key, json!({})).await;
    let agent = agent_named(&listed, "build-agent");
    assert_eq!(agent["status"], "KEY_REVOKED");
    assert_eq!(agent["api_key_name"], Value::Null);

    // A key no agent used is still just "unknown or revoked".
    let (other_id, other_key) = s.app.create_key(&s.sa, &s.tenant, None).await;
    revoke_as_operator(&s.app, &other_id).await;
    let refused = prefect(&s.app, &other_key, None, HELLO, json!({})).await;
    assert!(
        message(&refused).contains("unknown or has been revoked"),
        "{refused}"
    );
}

async fn after_the_service_account_is_removed_its_agent_is_told_so(backend: Backend) {
    let s = setup(backend).await;
    let admin = s
        .app
        .create_person("admin@example.com", &s.tenant, Role::Admin)
        .await
        .id;
    let (_, admin_key) = s.app.create_key(&admin, &s.tenant, None).await;
    let id = start_agent(&s.app, &s.key, "build-agent").await;

    succeed(
        &s.app,
        &admin_key,
        "remove_service_account",
        json!({ "id": s.sa }),
    )
    .await;

    let refused = poll(&s.app, &s.key, &id, &s.tenant).await;
    assert_eq!(code(&refused), "UNAUTHENTICATED");
    assert!(
        message(&refused).contains("its service account was removed at "),
        "{refused}"
    );
    let listed = agents(&s.app, &admin_key, json!({})).await;
    assert_eq!(agent_named(&listed, "build-agent")["status"], "KEY_REVOKED");
}

async fn the_revoke_dialog_names_the_agents_that_used_the_key_in_the_last_day(backend: Backend) {
    let s = setup(backend).await;
    s.app
        .create_person("admin@example.com", &s.tenant, Role::Admin)
        .await;
    start_agent(&s.app, &s.key, "old-agent").await;
    s.app.clock.advance(Duration::hours(25));
    start_agent(&s.app, &s.key, "build-agent").await;
    s.app.clock.advance(Duration::minutes(2));
    start_agent(&s.app, &s.key, "deploy-agent").await;

    let b = Browser::new(&s.app);
    b.sign_in("admin@example.com").await;
    let sa_page = format!("/t/acme/team/service-accounts/{}", s.sa);
    let dialog = b
        .get(&format!("{sa_page}/api-keys/{}/delete", s.key_id))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        dialog.contains(
            "2 agents used this key in the last 24 hours: deploy-agent (last seen just now), build-agent (last seen 2 minutes ago)."
        ),
        "{dialog}"
    );
    assert!(!dialog.contains("old-agent"));
    assert!(
        dialog.contains("python-requests 2.31 from 127.0.0.1")
            && dialog.contains(&format!("title=\"{USER_AGENT}\"")),
        "{dialog}"
    );

    // The service account's page lists all three with their key; once the key is
    // revoked they show "key revoked".
    let page = b.get(&sa_page).await.text().await.unwrap();
    for name in ["old-agent", "build-agent", "deploy-agent"] {
        assert!(
            page.contains(&format!("data-agent-name=\"{name}\"")),
            "{page}"
        );
    }
    assert!(page.contains("3 agents registered with its keys"), "{page}");
    revoke_as_operator(&s.app, &s.key_id).await;
    let page = b.get(&sa_page).await.text().await.unwrap();
    assert_eq!(
        page.matches("data-status=\"key revoked\"").count(),
        3,
        "{page}"
    );
}

async fn clients(app: &TestApp, key: &str) -> Value {
    let answer = app
        .graphql(
            Some(key),
            "{ auth_api_key { id clients { user_agent ip first_seen_at last_seen_at } } }",
            json!({}),
            &[],
        )
        .await;
    answer["data"]["auth_api_key"][0]["clients"].clone()
}

/// The client with this user agent among a key's clients.
fn client_named(clients: &Value, user_agent: &str) -> Value {
    clients
        .as_array()
        .unwrap_or_else(|| panic!("{clients}"))
        .iter()
        .find(|c| c["user_agent"] == user_agent)
        .unwrap_or_else(|| panic!("no {user_agent} in {clients}"))
        .clone()
}

async fn call_as(app: &TestApp, key: &str, user_agent: &str) {
    let res = app
        .client
        .get(app.url("/api/whoami"))
        .bearer_auth(key)
        .header("User-Agent", user_agent)
        .send()
        .await
        .expect("whoami");
    assert_eq!(res.status(), 200);
}

/// The key's clients once `done` holds of them (they are written in the background,
/// off the request: docs/DECISIONS.md); panics after 10 s.
async fn clients_once(app: &TestApp, key: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let found = clients(app, key).await;
        if done(&found) {
            return found;
        }
        assert!(std::time::Instant::now() < deadline, "never came: {found}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn has_client(clients: &Value, user_agent: &str) -> bool {
    clients
        .as_array()
        .is_some_and(|all| all.iter().any(|c| c["user_agent"] == user_agent))
}

async fn clients_seen_per_key_are_few_and_written_at_most_once_a_minute(backend: Backend) {
    let s = setup(backend).await;
    let person = s
        .app
        .create_person("pat@example.com", &s.tenant, Role::User)
        .await
        .id;
    let (_, key) = s.app.create_key(&person, &s.tenant, None).await;
    call_as(&s.app, &key, "terraform/1.9").await;
    let seen = clients_once(&s.app, &key, |c| has_client(c, "terraform/1.9")).await;
    let terraform = client_named(&seen, "terraform/1.9");
    assert_eq!(terraform["ip"], "127.0.0.1");

    // Within the minute, the same client writes nothing.
    s.app.clock.advance(Duration::seconds(30));
    call_as(&s.app, &key, "terraform/1.9").await;
    let same = client_named(&clients(&s.app, &key).await, "terraform/1.9");
    assert_eq!(same["last_seen_at"], terraform["last_seen_at"]);
    s.app.clock.advance(Duration::seconds(31));
    call_as(&s.app, &key, "terraform/1.9").await;
    let seen = clients_once(&s.app, &key, |c| {
        client_named(c, "terraform/1.9")["last_seen_at"] != terraform["last_seen_at"]
    })
    .await;
    let moved = client_named(&seen, "terraform/1.9");
    assert!(moved["last_seen_at"].as_str() > terraform["last_seen_at"].as_str());
    assert_eq!(moved["first_seen_at"], terraform["first_seen_at"]);

    // At most five clients a key: the least recently seen go.
    for i in 0..7 {
        s.app.clock.advance(Duration::seconds(1));
        let script = format!("script-{i}");
        call_as(&s.app, &key, &script).await;
        clients_once(&s.app, &key, |c| has_client(c, &script)).await;
    }
    let kept = clients(&s.app, &key).await;
    let names: Vec<&str> = kept
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["user_agent"].as_str().unwrap())
        .collect();
    assert!(names.len() <= 5, "{kept}");
    assert!(names.contains(&"script-6"), "{kept}");
    assert!(!names.contains(&"terraform/1.9"), "{kept}");

    // The key's row on the dashboard shows them too.
    let b = Browser::new(&s.app);
    b.sign_in("pat@example.com").await;
    let list = b.get("/user/api-keys").await.text().await.unwrap();
    assert!(
        list.contains("script-6 from 127.0.0.1, last seen"),
        "{list}"
    );
}

/// A client's sighting is written in the background; a main pool whose connections are
/// all taken for a moment delays the write, it does not lose it (it used to be dropped
/// when no connection was idle that instant, and the client then stayed unlisted for a
/// minute: the cause of a flake of the test above, issue 22).
async fn a_client_seen_while_every_connection_is_busy_is_written_once_one_is_free(
    backend: Backend,
) {
    let s = setup(backend).await;
    let person = s
        .app
        .create_person("pat@example.com", &s.tenant, Role::User)
        .await
        .id;
    let (_, key) = s.app.create_key(&person, &s.tenant, None).await;
    let pool = s.app.state.db.pool.clone();
    let held = tokio::task::spawn_blocking(move || {
        (0..pool.max_size())
            .map(|_| pool.get().expect("a connection of the main pool"))
            .collect::<Vec<_>>()
    })
    .await
    .expect("the connections");
    // The pool stays busy for a moment of its own, whatever the request needs.
    let release = tokio::task::spawn_blocking(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        drop(held);
    });
    call_as(&s.app, &key, "busy-pool/1.0").await;
    release.await.expect("the connections given back");
    let seen = clients_once(&s.app, &key, |c| has_client(c, "busy-pool/1.0")).await;
    assert_eq!(client_named(&seen, "busy-pool/1.0")["ip"], "127.0.0.1");
}

async fn agents_unseen_for_thirty_days_are_forgotten_by_the_periodic_clean_up(backend: Backend) {
    let s = setup(backend).await;
    start_agent(&s.app, &s.key, "old-agent").await;
    s.app.clock.advance(Duration::days(29));
    start_agent(&s.app, &s.key, "recent-agent").await;
    s.app.clock.advance(Duration::days(2));
    let swept = s
        .app
        .run(|conn, now| keyward::services::housekeeping::sweep(conn, now, None))
        .await
        .expect("sweep");
    assert_eq!(swept.agents, 1);
    let listed = agents(&s.app, &s.key, json!({})).await;
    assert_eq!(
        listed["data"]["agents"][0]["name"], "recent-agent",
        "{listed}"
    );
    assert_eq!(listed["data"]["agents_aggregate"]["aggregate"]["count"], 1);
}
