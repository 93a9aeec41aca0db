//! The GraphQL endpoint (issue 6): Prefect 1.x documents sent byte-for-byte as Prefect
//! clients send them, the permission matrix through GraphQL, the request limits, and the
//! committed schema and route-parity checks.

use crate::backend_tests;
use crate::support::{Backend, Seeded, TestApp};
use keyward::domain::Role;
use reqwest::header::CONTENT_TYPE;
use serde_json::{json, Value};

backend_tests!(
    prefect_auth_info_documents_return_the_keys_account_tenant_key_role_and_type,
    prefect_tenant_documents_return_only_the_keys_own_tenant,
    prefect_create_api_key_documents_return_a_working_secret,
    prefect_auth_api_key_documents_list_own_keys_and_never_a_secret,
    prefect_delete_api_key_document_revokes_the_key,
    delete_api_key_for_a_key_the_caller_may_not_revoke_answers_success_false_and_not_found,
    hello_answers_without_a_key,
    variables_are_accepted_as_an_object_as_an_empty_string_and_as_null,
    a_query_that_needs_a_key_without_one_answers_200_with_the_unauthenticated_shape,
    a_bad_key_answers_200_with_the_unauthenticated_shape,
    a_foreign_tenant_header_is_unauthenticated,
    a_revoked_key_is_unauthenticated_on_the_next_request,
    malformed_json_answers_400_with_a_json_body,
    a_syntax_error_is_a_graphql_error_not_a_500,
    a_body_of_64_kib_plus_one_byte_is_413_while_a_60_kib_request_is_answered,
    a_50_deep_type_query_is_refused_while_graphiqls_introspection_query_works,
    a_batch_is_refused,
    the_permission_matrix_holds_through_graphql_for_every_kind_of_caller,
    auth_api_key_adds_service_account_keys_for_admins_only,
    dashboard_actions_work_through_graphql,
    graphiql_is_served_with_its_assets_from_keyward_itself,
);

// ---------------------------------------------------------------------------------------
// Helpers

/// Posts a raw body, as a client would, and returns the status and the JSON answer.
async fn post_raw(
    app: &TestApp,
    path: &str,
    key: Option<&str>,
    headers: &[(&str, &str)],
    body: String,
) -> (u16, Value) {
    let res = app
        .post_json(path, key, headers)
        .body(body)
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = res.text().await.expect("body");
    assert!(
        content_type.starts_with("application/json"),
        "answers are application/json, got {content_type:?}: {text}"
    );
    let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("a JSON body: {text}"));
    (status, value)
}

/// The body a Prefect 1.x client sends: `variables` JSON-encoded into a string, with
/// Python's `json.dumps` spacing.
fn prefect_body(query: &str, variables: &str) -> String {
    json!({ "query": query, "variables": variables })
        .to_string()
        .replacen("{\"query\":", "{\"query\": ", 1)
        .replacen(",\"variables\":", ", \"variables\": ", 1)
}

/// Sends a document as Prefect does (to the bare URL) and expects no errors.
async fn prefect(app: &TestApp, key: &str, query: &str, variables: &str) -> Value {
    let (status, body) = post_raw(app, "/", Some(key), &[], prefect_body(query, variables)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    body["data"].clone()
}

/// Sends a query with object variables to /graphql; returns the whole answer.
async fn gql(app: &TestApp, key: Option<&str>, query: &str, variables: Value) -> Value {
    let body = json!({ "query": query, "variables": variables }).to_string();
    let (status, value) = post_raw(app, "/graphql", key, &[], body).await;
    assert_eq!(status, 200, "{value}");
    value
}

fn error_code(answer: &Value) -> Option<String> {
    answer["errors"][0]["extensions"]["code"]
        .as_str()
        .map(str::to_string)
}

fn assert_unauthenticated_shape(answer: &Value) {
    assert_eq!(answer["data"], Value::Null, "{answer}");
    assert_eq!(
        error_code(answer).as_deref(),
        Some("UNAUTHENTICATED"),
        "{answer}"
    );
    assert!(
        answer["errors"][0]["message"].as_str().is_some(),
        "{answer}"
    );
}

/// A tenant with one admin who holds a key.
struct World {
    tenant: Seeded,
    admin: Seeded,
    admin_key: String,
    admin_key_id: String,
}

async fn world(app: &TestApp) -> World {
    let tenant = app.create_tenant("acme").await;
    let admin = app
        .create_person("ada@example.com", &tenant.id, Role::Admin)
        .await;
    let (admin_key_id, admin_key) = app.create_key(&admin.id, &tenant.id, None).await;
    World {
        tenant,
        admin,
        admin_key,
        admin_key_id,
    }
}

// ---------------------------------------------------------------------------------------
// Prefect documents

async fn prefect_auth_info_documents_return_the_keys_account_tenant_key_role_and_type(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let data = prefect(
        &app,
        &w.admin_key,
        "query { auth_info { tenant_id } }",
        "null",
    )
    .await;
    assert_eq!(data, json!({ "auth_info": { "tenant_id": w.tenant.id } }));
    let data = prefect(
        &app,
        &w.admin_key,
        "query { auth_info { user_id } }",
        "null",
    )
    .await;
    assert_eq!(data, json!({ "auth_info": { "user_id": w.admin.id } }));
    let data = prefect(
        &app,
        &w.admin_key,
        "query { auth_info { api_key_id role account_type } }",
        "null",
    )
    .await;
    assert_eq!(
        data,
        json!({ "auth_info": { "api_key_id": w.admin_key_id, "role": "ADMIN", "account_type": "USER" } })
    );
    let sa = app.create_service_account(&w.tenant.id, "deployer").await;
    let (_, sa_key) = app.create_key(&sa.id, &w.tenant.id, None).await;
    let data = prefect(
        &app,
        &sa_key,
        "query { auth_info { user_id role account_type } }",
        "null",
    )
    .await;
    assert_eq!(
        data,
        json!({ "auth_info": { "user_id": sa.id, "role": "ADMIN", "account_type": "SERVICE_ACCOUNT" } })
    );
}

async fn prefect_tenant_documents_return_only_the_keys_own_tenant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let other = app.create_tenant("globex").await;
    let me = json!([{ "id": w.tenant.id, "slug": "acme", "name": "Tenant acme" }]);

    let by_id = format!(
        "query {{ tenant(where: {{ id: {{ _eq: \"{}\" }} }}) {{ id slug name }} }}",
        w.tenant.id
    );
    let data = prefect(&app, &w.admin_key, &by_id, "null").await;
    assert_eq!(data["tenant"], me);

    let slug_query = "query($slug: String) { tenant(where: {slug: { _eq: $slug } }) { id } }";
    let data = prefect(&app, &w.admin_key, slug_query, "{\"slug\": \"acme\"}").await;
    assert_eq!(data["tenant"], json!([{ "id": w.tenant.id }]));
    let data = prefect(&app, &w.admin_key, slug_query, "{\"slug\": \"globex\"}").await;
    assert_eq!(data["tenant"], json!([]), "another tenant is never listed");
    let data = prefect(&app, &w.admin_key, slug_query, "{\"slug\": null}").await;
    assert_eq!(
        data["tenant"],
        json!([{ "id": w.tenant.id }]),
        "a null _eq matches"
    );

    let by_other_id = format!(
        "query {{ tenant(where: {{ id: {{ _eq: \"{}\" }} }}) {{ id }} }}",
        other.id
    );
    let data = prefect(&app, &w.admin_key, &by_other_id, "null").await;
    assert_eq!(data["tenant"], json!([]));

    let data = prefect(
        &app,
        &w.admin_key,
        "query { tenant(order_by: {slug: asc}) { id name slug } }",
        "null",
    )
    .await;
    assert_eq!(data["tenant"], me);
    let data = prefect(
        &app,
        &w.admin_key,
        "query { tenant(order_by: {slug: desc}, limit: 1, offset: 0) { id name slug } }",
        "null",
    )
    .await;
    assert_eq!(data["tenant"], me);
    let data = prefect(
        &app,
        &w.admin_key,
        "query { tenant(limit: 10, offset: 1) { id } }",
        "null",
    )
    .await;
    assert_eq!(data["tenant"], json!([]));
}

async fn prefect_create_api_key_documents_return_a_working_secret(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let doc = "mutation($input: create_api_key_input!) { create_api_key(input: $input) { key } }";

    let vars = format!(
        "{{\"input\": {{\"name\": \"laptop\", \"user_id\": \"{}\", \"expires_at\": null}}}}",
        w.admin.id
    );
    let data = prefect(&app, &w.admin_key, doc, &vars).await;
    let key = data["create_api_key"]["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("kwu_"), "{key}");
    let who = prefect(
        &app,
        &key,
        "query { auth_info { user_id tenant_id } }",
        "null",
    )
    .await;
    assert_eq!(who["auth_info"]["user_id"], json!(w.admin.id));
    assert_eq!(who["auth_info"]["tenant_id"], json!(w.tenant.id));

    let vars = format!(
        "{{\"input\": {{\"name\": \"ci\", \"user_id\": \"{}\", \"expires_at\": \"2031-01-01T00:00:00+00:00\"}}}}",
        w.admin.id
    );
    let full = "mutation($input: create_api_key_input!) { create_api_key(input: $input) { id key token } }";
    let data = prefect(&app, &w.admin_key, full, &vars).await;
    let created = &data["create_api_key"];
    assert_eq!(
        created["key"], created["token"],
        "key and token are the same secret"
    );
    let listed = prefect(
        &app,
        &w.admin_key,
        "query { auth_api_key { id name expires_at } }",
        "null",
    )
    .await;
    let ci = listed["auth_api_key"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == created["id"])
        .cloned()
        .unwrap();
    assert_eq!(ci["expires_at"], json!("2031-01-01T00:00:00Z"));

    // The documented example, inline arguments.
    let inline = format!(
        "mutation {{ create_api_key(input: {{ user_id: \"{}\", name: \"my-api-key\" }}) {{ token }} }}",
        w.admin.id
    );
    let data = prefect(&app, &w.admin_key, &inline, "null").await;
    assert!(data["create_api_key"]["token"]
        .as_str()
        .unwrap()
        .starts_with("kwu_"));

    // For a service account of the tenant, from an admin's key; tenant_id defaults.
    let sa = app.create_service_account(&w.tenant.id, "deployer").await;
    let vars = format!(
        "{{\"input\": {{\"name\": \"deploy\", \"user_id\": \"{}\", \"expires_at\": null}}}}",
        sa.id
    );
    let data = prefect(&app, &w.admin_key, doc, &vars).await;
    assert!(data["create_api_key"]["key"]
        .as_str()
        .unwrap()
        .starts_with("kws_"));

    // Another tenant is FORBIDDEN; a past expiry is BAD_USER_INPUT.
    let other = app.create_tenant("globex").await;
    app.add_member(&w.admin.id, &other.id, Role::Admin).await;
    let vars = format!(
        "{{\"input\": {{\"name\": \"x\", \"user_id\": \"{}\", \"tenant_id\": \"{}\"}}}}",
        w.admin.id, other.id
    );
    let (_, answer) = post_raw(&app, "/", Some(&w.admin_key), &[], prefect_body(doc, &vars)).await;
    assert_eq!(
        error_code(&answer).as_deref(),
        Some("FORBIDDEN"),
        "{answer}"
    );
    let vars = format!(
        "{{\"input\": {{\"name\": \"x\", \"user_id\": \"{}\", \"expires_at\": \"2001-01-01T00:00:00+00:00\"}}}}",
        w.admin.id
    );
    let (_, answer) = post_raw(&app, "/", Some(&w.admin_key), &[], prefect_body(doc, &vars)).await;
    assert_eq!(
        error_code(&answer).as_deref(),
        Some("BAD_USER_INPUT"),
        "{answer}"
    );
}

async fn prefect_auth_api_key_documents_list_own_keys_and_never_a_secret(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let data = prefect(
        &app,
        &w.admin_key,
        "query { auth_api_key { id name expires_at } }",
        "null",
    )
    .await;
    assert_eq!(
        data,
        json!({ "auth_api_key": [{ "id": w.admin_key_id, "name": "test key", "expires_at": null }] })
    );
    let data = prefect(
        &app,
        &w.admin_key,
        "query { auth_api_key { id name expires_at user_id } }",
        "null",
    )
    .await;
    assert_eq!(data["auth_api_key"][0]["user_id"], json!(w.admin.id));
    let everything = prefect(
        &app,
        &w.admin_key,
        "query { auth_api_key { id name user_id account_type user_name tenant_id display_hint created_at expires_at expired last_used_at } }",
        "null",
    )
    .await
    .to_string();
    assert!(
        !everything.contains(&w.admin_key),
        "no field returns a secret: {everything}"
    );

    // An expired key is refused but stays listed, marked expired, until deleted.
    let tomorrow = app.clock.now() + time::Duration::days(1);
    let (expiring_id, expiring) = app
        .create_key(&w.admin.id, &w.tenant.id, Some(tomorrow))
        .await;
    app.clock.advance(time::Duration::days(2));
    let (_, answer) = post_raw(
        &app,
        "/",
        Some(&expiring),
        &[],
        prefect_body("query { auth_info { user_id } }", "null"),
    )
    .await;
    assert_unauthenticated_shape(&answer);
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{answer}"
    );
    let data = prefect(
        &app,
        &w.admin_key,
        "query { auth_api_key { id expired } }",
        "null",
    )
    .await;
    let listed = data["auth_api_key"].as_array().unwrap();
    assert!(
        listed.contains(&json!({ "id": expiring_id, "expired": true })),
        "{data}"
    );
    assert!(
        listed.contains(&json!({ "id": w.admin_key_id, "expired": false })),
        "{data}"
    );
}

async fn prefect_delete_api_key_document_revokes_the_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let (doomed_id, doomed) = app.create_key(&w.admin.id, &w.tenant.id, None).await;
    let doc =
        "mutation($input: delete_api_key_input!) { delete_api_key(input: $input) { success } }";
    let vars = format!("{{\"input\": {{\"key_id\": \"{doomed_id}\"}}}}");
    let data = prefect(&app, &w.admin_key, doc, &vars).await;
    assert_eq!(data, json!({ "delete_api_key": { "success": true } }));
    let (_, answer) = post_raw(
        &app,
        "/",
        Some(&doomed),
        &[],
        prefect_body("query { auth_info { user_id } }", "null"),
    )
    .await;
    assert_unauthenticated_shape(&answer);

    // The documented example, inline arguments.
    let (other_id, _) = app.create_key(&w.admin.id, &w.tenant.id, None).await;
    let inline =
        format!("mutation {{ delete_api_key(input: {{ key_id: \"{other_id}\" }}) {{ success }} }}");
    let data = prefect(&app, &w.admin_key, &inline, "null").await;
    assert_eq!(data["delete_api_key"]["success"], json!(true));
}

async fn delete_api_key_for_a_key_the_caller_may_not_revoke_answers_success_false_and_not_found(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let colleague = app
        .create_person("bob@example.com", &w.tenant.id, Role::User)
        .await;
    let (colleague_key_id, _) = app.create_key(&colleague.id, &w.tenant.id, None).await;
    let other = app.create_tenant("globex").await;
    let stranger = app
        .create_person("eve@example.com", &other.id, Role::Admin)
        .await;
    let (stranger_key_id, _) = app.create_key(&stranger.id, &other.id, None).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let doc =
        "mutation($input: delete_api_key_input!) { delete_api_key(input: $input) { success } }";
    for key_id in [&colleague_key_id, &stranger_key_id, &unknown] {
        let vars = format!("{{\"input\": {{\"key_id\": \"{key_id}\"}}}}");
        let (status, answer) =
            post_raw(&app, "/", Some(&w.admin_key), &[], prefect_body(doc, &vars)).await;
        assert_eq!(status, 200);
        assert_eq!(
            answer["data"],
            json!({ "delete_api_key": { "success": false } }),
            "{answer}"
        );
        assert_eq!(answer["errors"][0]["message"], json!("API key not found"));
        assert_eq!(error_code(&answer).as_deref(), Some("NOT_FOUND"));
    }
}

async fn hello_answers_without_a_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, answer) = post_raw(
        &app,
        "/",
        None,
        &[],
        prefect_body("query { hello }", "null"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(answer["data"]["hello"].is_string(), "{answer}");
    assert!(answer.get("errors").is_none());
}

async fn variables_are_accepted_as_an_object_as_an_empty_string_and_as_null(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let q = "query($slug: String) { tenant(where: {slug: { _eq: $slug } }) { slug } }";
    for body in [
        json!({ "query": q, "variables": { "slug": "acme" } }),
        json!({ "query": q, "variables": "" }),
        json!({ "query": q, "variables": null }),
        json!({ "query": q }),
        json!({ "query": q, "variables": "{\"slug\": \"acme\"}", "operationName": null }),
    ] {
        let (status, answer) =
            post_raw(&app, "/graphql", Some(&w.admin_key), &[], body.to_string()).await;
        assert_eq!(status, 200, "{body}: {answer}");
        assert_eq!(
            answer["data"]["tenant"],
            json!([{ "slug": "acme" }]),
            "{body}"
        );
    }
    // operationName picks one operation of several.
    let body = json!({
        "query": "query A { hello } query B { auth_info { role } }",
        "operationName": "B",
    });
    let (_, answer) = post_raw(&app, "/graphql", Some(&w.admin_key), &[], body.to_string()).await;
    assert_eq!(answer["data"], json!({ "auth_info": { "role": "ADMIN" } }));
    // A string that is not JSON is a clear 400.
    let body = json!({ "query": q, "variables": "{slug:" });
    let (status, answer) =
        post_raw(&app, "/graphql", Some(&w.admin_key), &[], body.to_string()).await;
    assert_eq!(status, 400);
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("variables"),
        "{answer}"
    );
}

async fn a_query_that_needs_a_key_without_one_answers_200_with_the_unauthenticated_shape(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    for doc in [
        "query { auth_info { user_id } }",
        "query { hello auth_api_key { id } }",
        "mutation { delete_api_key(input: { key_id: \"3f2504e0-4f89-41d3-9a0c-0305e82c3301\" }) { success } }",
    ] {
        let (status, answer) = post_raw(&app, "/", None, &[], prefect_body(doc, "null")).await;
        assert_eq!(status, 200);
        assert_unauthenticated_shape(&answer);
    }
}

async fn a_bad_key_answers_200_with_the_unauthenticated_shape(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let mut typo = w.admin_key.clone();
    typo.pop();
    typo.push(if w.admin_key.ends_with('0') { '1' } else { '0' });
    for key in ["not-a-key", typo.as_str()] {
        let (status, answer) = post_raw(
            &app,
            "/",
            Some(key),
            &[],
            prefect_body("query { hello }", "null"),
        )
        .await;
        assert_eq!(status, 200);
        assert_unauthenticated_shape(&answer);
        assert_eq!(answer["errors"].as_array().unwrap().len(), 1);
    }
}

async fn a_foreign_tenant_header_is_unauthenticated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let other = app.create_tenant("globex").await;
    for header in ["X-PREFECT-TENANT-ID", "X-Keyward-Tenant-Id"] {
        let (_, answer) = post_raw(
            &app,
            "/",
            Some(&w.admin_key),
            &[(header, &other.id)],
            prefect_body("query { auth_info { tenant_id } }", "null"),
        )
        .await;
        assert_unauthenticated_shape(&answer);
        let data = {
            let (_, answer) = post_raw(
                &app,
                "/",
                Some(&w.admin_key),
                &[(header, &w.tenant.id)],
                prefect_body("query { auth_info { tenant_id } }", "null"),
            )
            .await;
            answer
        };
        assert_eq!(
            data["data"]["auth_info"]["tenant_id"],
            json!(w.tenant.id),
            "{data}"
        );
    }
}

async fn a_revoked_key_is_unauthenticated_on_the_next_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    prefect(
        &app,
        &w.admin_key,
        "query { auth_info { user_id } }",
        "null",
    )
    .await;
    let key_id = w.admin_key_id.clone();
    let data = prefect(
        &app,
        &w.admin_key,
        "mutation($input: delete_api_key_input!) { delete_api_key(input: $input) { success } }",
        &format!("{{\"input\": {{\"key_id\": \"{key_id}\"}}}}"),
    )
    .await;
    assert_eq!(
        data["delete_api_key"]["success"],
        json!(true),
        "a key may revoke itself"
    );
    let (status, answer) = post_raw(
        &app,
        "/",
        Some(&w.admin_key),
        &[],
        prefect_body("query { auth_info { user_id } }", "null"),
    )
    .await;
    assert_eq!(status, 200);
    assert_unauthenticated_shape(&answer);
}

// ---------------------------------------------------------------------------------------
// Malformed and hostile requests

async fn malformed_json_answers_400_with_a_json_body(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for body in [
        "{\"query\": \"{ hello }\"",
        "",
        "query { hello }",
        "42",
        "{\"variables\": {}}",
    ] {
        let (status, answer) = post_raw(&app, "/graphql", None, &[], body.to_string()).await;
        assert_eq!(status, 400, "{body:?}: {answer}");
        assert_eq!(
            error_code(&answer).as_deref(),
            Some("BAD_USER_INPUT"),
            "{answer}"
        );
        assert!(answer["errors"][0]["message"].is_string());
    }
}

async fn a_syntax_error_is_a_graphql_error_not_a_500(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    for doc in [
        "query { hello",
        "{ no_such_field }",
        "mutation { create_api_key(input: {}) { key } }",
        "mutation { create_api_key(input: { user_id: \"nope\", name: \"x\" }) { key } }",
        "mutation { create_api_key(input: { user_id: \"3f2504e0-4f89-41d3-9a0c-0305e82c3301\", name: \"x\", expires_at: \"9999-12-31T23:59:59-01:00\" }) { id } }",
    ] {
        let (status, answer) = post_raw(
            &app,
            "/",
            Some(&w.admin_key),
            &[],
            prefect_body(doc, "null"),
        )
        .await;
        assert_eq!(status, 200, "{doc}: {answer}");
        assert!(answer["errors"][0]["message"].is_string(), "{answer}");
        assert_eq!(
            error_code(&answer).as_deref(),
            Some("BAD_USER_INPUT"),
            "{answer}"
        );
    }
    // Values that do not parse are GraphQL errors too, whichever way they arrive.
    let doc = "mutation($input: create_api_key_input!) { create_api_key(input: $input) { key } }";
    for vars in [
        "{\"input\": {\"name\": \"x\", \"user_id\": \"nope\"}}".to_string(),
        format!(
            "{{\"input\": {{\"name\": \"x\", \"user_id\": \"{}\", \"expires_at\": \"tomorrow\"}}}}",
            w.admin.id
        ),
        format!(
            "{{\"input\": {{\"name\": \"\", \"user_id\": \"{}\"}}}}",
            w.admin.id
        ),
        // Past year 9999 once converted to UTC: converting it must not panic.
        format!(
            "{{\"input\": {{\"name\": \"x\", \"user_id\": \"{}\", \"expires_at\": \"9999-12-31T23:59:59-01:00\"}}}}",
            w.admin.id
        ),
    ] {
        let (status, answer) =
            post_raw(&app, "/", Some(&w.admin_key), &[], prefect_body(doc, &vars)).await;
        assert_eq!(status, 200, "{vars}: {answer}");
        assert_eq!(
            error_code(&answer).as_deref(),
            Some("BAD_USER_INPUT"),
            "{vars}: {answer}"
        );
    }
    // And the server is still there, on every worker.
    for _ in 0..4 {
        let (status, _) = post_raw(
            &app,
            "/graphql",
            None,
            &[],
            prefect_body("query { hello }", "null"),
        )
        .await;
        assert_eq!(status, 200);
    }
}

async fn a_body_of_64_kib_plus_one_byte_is_413_while_a_60_kib_request_is_answered(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let padded = |total: usize| {
        let skeleton = json!({ "query": "#\n{ hello }" }).to_string();
        let padding = "x".repeat(total - skeleton.len());
        let body = json!({ "query": format!("#{padding}\n{{ hello }}") }).to_string();
        assert_eq!(body.len(), total);
        body
    };
    let (status, answer) = post_raw(&app, "/graphql", None, &[], padded(64 * 1024 + 1)).await;
    assert_eq!(status, 413, "{answer}");
    assert!(answer["errors"][0]["message"].is_string());
    let (status, answer) = post_raw(&app, "/graphql", None, &[], padded(60 * 1024)).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["data"]["hello"].is_string(), "{answer}");
    let (status, _) = post_raw(&app, "/graphql", None, &[], padded(64 * 1024)).await;
    assert_eq!(status, 200, "exactly 64 KiB is allowed");
}

/// Exactly what the vendored GraphiQL 3.8.3 sends: graphql-js 16's `getIntrospectionQuery()`
/// with its defaults (its `TypeRef` fragment unwraps `ofType` nine times).
const GRAPHIQL_INTROSPECTION_QUERY: &str = r#"
    query IntrospectionQuery {
      __schema {
        
        queryType { name }
        mutationType { name }
        subscriptionType { name }
        types {
          ...FullType
        }
        directives {
          name
          description
          
          locations
          args {
            ...InputValue
          }
        }
      }
    }

    fragment FullType on __Type {
      kind
      name
      description
      
      
      fields(includeDeprecated: true) {
        name
        description
        args {
          ...InputValue
        }
        type {
          ...TypeRef
        }
        isDeprecated
        deprecationReason
      }
      inputFields {
        ...InputValue
      }
      interfaces {
        ...TypeRef
      }
      enumValues(includeDeprecated: true) {
        name
        description
        isDeprecated
        deprecationReason
      }
      possibleTypes {
        ...TypeRef
      }
    }

    fragment InputValue on __InputValue {
      name
      description
      type { ...TypeRef }
      defaultValue
      
      
    }

    fragment TypeRef on __Type {
      kind
      name
      ofType {
        kind
        name
        ofType {
          kind
          name
          ofType {
            kind
            name
            ofType {
              kind
              name
              ofType {
                kind
                name
                ofType {
                  kind
                  name
                  ofType {
                    kind
                    name
                    ofType {
                      kind
                      name
                      ofType {
                        kind
                        name
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  "#;

async fn a_50_deep_type_query_is_refused_while_graphiqls_introspection_query_works(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let deep = |n: usize| {
        format!(
            "query {{ __type(name: \"auth_info\") {{ {} name {} }} }}",
            "ofType { ".repeat(n),
            "} ".repeat(n)
        )
    };
    // 50 and 20 levels stop at the cost check's depth limits; 100 already at the parser's
    // recursion limit.
    for (levels, refusal) in [
        (50, "levels deep"),
        (20, "levels deep"),
        (100, "ecursion limit"),
    ] {
        let (status, answer) = post_raw(
            &app,
            "/graphql",
            None,
            &[],
            json!({ "query": deep(levels) }).to_string(),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(answer["data"], Value::Null, "{answer}");
        assert_eq!(
            error_code(&answer).as_deref(),
            Some("BAD_USER_INPUT"),
            "{answer}"
        );
        assert!(
            answer["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(refusal),
            "{levels} levels: {answer}"
        );
    }

    let (status, answer) = post_raw(
        &app,
        "/graphql",
        None,
        &[],
        json!({ "query": GRAPHIQL_INTROSPECTION_QUERY, "operationName": "IntrospectionQuery" })
            .to_string(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(answer.get("errors").is_none(), "{answer}");
    let types = answer["data"]["__schema"]["types"].as_array().unwrap();
    assert!(types.iter().any(|t| t["name"] == "create_api_key_input"));
}

async fn a_batch_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!([{ "query": "{ hello }" }, { "query": "{ hello }" }]).to_string();
    let (status, answer) = post_raw(&app, "/graphql", None, &[], body).await;
    assert_eq!(status, 400);
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("batch"),
        "{answer}"
    );
}

// ---------------------------------------------------------------------------------------
// The permission matrix of DESIGN §2, through GraphQL

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Admin,
    User,
    ReadOnlyUser,
    ServiceAccount,
    /// An admin of another tenant, naming this tenant.
    OtherTenantAdmin,
    Anonymous,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    CreateOwnKey,
    CreateServiceAccountKey,
    CreateKeyForAnotherPerson,
    ListServiceAccountKeys,
    RevokeOwnKey,
    RevokeServiceAccountKey,
    RevokeAnotherPersonsKey,
    ListServiceAccounts,
    ReadServiceAccount,
    CreateServiceAccount,
    RenameServiceAccount,
    RemoveServiceAccount,
    ListMembers,
    ListInvitations,
    CreateInvitation,
    RevokeInvitation,
    ChangeMemberRole,
    RemoveMember,
    DemoteTheLastHumanAdmin,
    ReadAuditLog,
    ChangeOwnPassword,
}

const CALLERS: [Caller; 6] = [
    Caller::Admin,
    Caller::User,
    Caller::ReadOnlyUser,
    Caller::ServiceAccount,
    Caller::OtherTenantAdmin,
    Caller::Anonymous,
];

const ACTIONS: [Action; 21] = [
    Action::CreateOwnKey,
    Action::CreateServiceAccountKey,
    Action::CreateKeyForAnotherPerson,
    Action::ListServiceAccountKeys,
    Action::RevokeOwnKey,
    Action::RevokeServiceAccountKey,
    Action::RevokeAnotherPersonsKey,
    Action::ListServiceAccounts,
    Action::ReadServiceAccount,
    Action::CreateServiceAccount,
    Action::RenameServiceAccount,
    Action::RemoveServiceAccount,
    Action::ListMembers,
    Action::ListInvitations,
    Action::CreateInvitation,
    Action::RevokeInvitation,
    Action::ChangeMemberRole,
    Action::RemoveMember,
    Action::DemoteTheLastHumanAdmin,
    Action::ReadAuditLog,
    Action::ChangeOwnPassword,
];

/// What DESIGN §2 says: `None` is allowed, `Some(code)` is refused with that code.
fn expected(caller: Caller, action: Action) -> Option<&'static str> {
    use Action::*;
    use Caller::*;
    if caller == Anonymous {
        return Some("UNAUTHENTICATED");
    }
    let admin = matches!(caller, Admin | ServiceAccount);
    let human_admin = caller == Admin;
    match action {
        CreateOwnKey => (caller == OtherTenantAdmin).then_some("FORBIDDEN"),
        // Another tenant's service account does not exist for the caller (issue 17).
        ListServiceAccountKeys
        | ReadServiceAccount
        | RenameServiceAccount
        | RemoveServiceAccount
            if caller == OtherTenantAdmin =>
        {
            Some("NOT_FOUND")
        }
        CreateServiceAccountKey
        | ListServiceAccountKeys
        | ListServiceAccounts
        | ReadServiceAccount
        | CreateServiceAccount
        | RenameServiceAccount
        | RemoveServiceAccount
        | ListMembers
        | ReadAuditLog => (!admin).then_some("FORBIDDEN"),
        CreateKeyForAnotherPerson => Some("FORBIDDEN"),
        RevokeOwnKey => None,
        RevokeServiceAccountKey => (!admin).then_some("NOT_FOUND"),
        RevokeAnotherPersonsKey => Some("NOT_FOUND"),
        ListInvitations | CreateInvitation | RevokeInvitation | ChangeMemberRole | RemoveMember => {
            (!human_admin).then_some("FORBIDDEN")
        }
        DemoteTheLastHumanAdmin => Some(if human_admin {
            "BAD_USER_INPUT"
        } else {
            "FORBIDDEN"
        }),
        ChangeOwnPassword => (caller == ServiceAccount).then_some("FORBIDDEN"),
    }
}

struct Matrix {
    tenant: Seeded,
    admin: Seeded,
    victim: Seeded,
    callers: Vec<MatrixCaller>,
}

/// A caller with a key: its account and the tenant its key serves.
struct MatrixCaller {
    caller: Caller,
    key: String,
    account: Seeded,
    home_tenant: String,
}

impl Matrix {
    fn find(&self, caller: Caller) -> Option<&MatrixCaller> {
        self.callers.iter().find(|c| c.caller == caller)
    }

    fn key(&self, caller: Caller) -> Option<&str> {
        self.find(caller).map(|c| c.key.as_str())
    }

    /// The caller's own account (the admin's, for anonymous probes).
    fn account(&self, caller: Caller) -> &Seeded {
        self.find(caller).map_or(&self.admin, |c| &c.account)
    }

    /// The tenant the caller's key serves (the tenant, for anonymous probes).
    fn home_tenant(&self, caller: Caller) -> &str {
        self.find(caller)
            .map_or(&self.tenant.id, |c| &c.home_tenant)
    }
}

async fn matrix_world(app: &TestApp) -> Matrix {
    let tenant = app.create_tenant("acme").await;
    let other = app.create_tenant("globex").await;
    let admin = app
        .create_person("ada@example.com", &tenant.id, Role::Admin)
        .await;
    let user = app
        .create_person("bob@example.com", &tenant.id, Role::User)
        .await;
    let ro = app
        .create_person("rita@example.com", &tenant.id, Role::ReadOnlyUser)
        .await;
    let victim = app
        .create_person("vic@example.com", &tenant.id, Role::User)
        .await;
    let sa = app.create_service_account(&tenant.id, "robot").await;
    let outsider = app
        .create_person("eve@example.com", &other.id, Role::Admin)
        .await;
    let mut callers = Vec::new();
    for (caller, account, home_tenant) in [
        (Caller::Admin, admin.clone(), &tenant.id),
        (Caller::User, user, &tenant.id),
        (Caller::ReadOnlyUser, ro, &tenant.id),
        (Caller::ServiceAccount, sa, &tenant.id),
        (Caller::OtherTenantAdmin, outsider, &other.id),
    ] {
        let (_, key) = app.create_key(&account.id, home_tenant, None).await;
        callers.push(MatrixCaller {
            caller,
            key,
            account,
            home_tenant: home_tenant.clone(),
        });
    }
    Matrix {
        tenant,
        admin,
        victim,
        callers,
    }
}

/// Arranges what the action needs, sends it as the caller, and reports the outcome.
async fn attempt(
    app: &TestApp,
    m: &Matrix,
    caller: Caller,
    action: Action,
    n: usize,
) -> Option<String> {
    use Action::*;
    let key = m.key(caller);
    let me = m.account(caller).id.clone();
    let t = m.tenant.id.clone();
    let (query, vars): (&str, Value) = match action {
        CreateOwnKey => (
            "mutation($i: create_api_key_input!) { create_api_key(input: $i) { id } }",
            json!({ "i": { "user_id": me, "name": "mine", "tenant_id": t } }),
        ),
        CreateServiceAccountKey => {
            let sa = app.create_service_account(&t, &format!("sa {n}")).await;
            (
                "mutation($i: create_api_key_input!) { create_api_key(input: $i) { id } }",
                json!({ "i": { "user_id": sa.id, "name": "for sa", "tenant_id": t } }),
            )
        }
        CreateKeyForAnotherPerson => (
            "mutation($i: create_api_key_input!) { create_api_key(input: $i) { id } }",
            json!({ "i": { "user_id": m.victim.id, "name": "not yours", "tenant_id": t } }),
        ),
        ListServiceAccountKeys => {
            let sa = app.create_service_account(&t, &format!("sa {n}")).await;
            (
                "query($id: UUID!) { service_account(id: $id) { api_keys { id } } }",
                json!({ "id": sa.id }),
            )
        }
        RevokeOwnKey => {
            let (key_id, _) = app.create_key(&me, m.home_tenant(caller), None).await;
            (
                "mutation($i: delete_api_key_input!) { delete_api_key(input: $i) { success } }",
                json!({ "i": { "key_id": key_id } }),
            )
        }
        RevokeServiceAccountKey => {
            let sa = app.create_service_account(&t, &format!("sa {n}")).await;
            let (key_id, _) = app.create_key(&sa.id, &t, None).await;
            (
                "mutation($i: delete_api_key_input!) { delete_api_key(input: $i) { success } }",
                json!({ "i": { "key_id": key_id } }),
            )
        }
        RevokeAnotherPersonsKey => {
            let (key_id, _) = app.create_key(&m.victim.id, &t, None).await;
            (
                "mutation($i: delete_api_key_input!) { delete_api_key(input: $i) { success } }",
                json!({ "i": { "key_id": key_id } }),
            )
        }
        ListServiceAccounts => (
            "query($t: UUID) { service_accounts(tenant_id: $t) { id } }",
            json!({ "t": t }),
        ),
        ReadServiceAccount => {
            let sa = app.create_service_account(&t, &format!("sa {n}")).await;
            (
                "query($id: UUID!) { service_account(id: $id) { id name } }",
                json!({ "id": sa.id }),
            )
        }
        CreateServiceAccount => (
            "mutation($i: create_service_account_input!) { create_service_account(input: $i) { id } }",
            json!({ "i": { "name": format!("new {n}"), "tenant_id": t } }),
        ),
        RenameServiceAccount => {
            let sa = app.create_service_account(&t, &format!("sa {n}")).await;
            (
                "mutation($i: rename_service_account_input!) { rename_service_account(input: $i) { name } }",
                json!({ "i": { "id": sa.id, "name": format!("renamed {n}") } }),
            )
        }
        RemoveServiceAccount => {
            let sa = app.create_service_account(&t, &format!("sa {n}")).await;
            (
                "mutation($i: remove_service_account_input!) { remove_service_account(input: $i) { success } }",
                json!({ "i": { "id": sa.id } }),
            )
        }
        ListMembers => (
            "query($t: UUID) { members(tenant_id: $t) { user_id role } }",
            json!({ "t": t }),
        ),
        ListInvitations => (
            "query($t: UUID) { invitations(tenant_id: $t) { id } }",
            json!({ "t": t }),
        ),
        CreateInvitation => (
            "mutation($i: create_invitation_input!) { create_invitation(input: $i) { token } }",
            json!({ "i": { "role": "USER", "tenant_id": t } }),
        ),
        RevokeInvitation => {
            let invitation_id = app
                .create_invitation(&m.admin.id, &t, Role::User)
                .await
                .invitation
                .id;
            (
                "mutation($i: revoke_invitation_input!) { revoke_invitation(input: $i) { success } }",
                json!({ "i": { "id": invitation_id, "tenant_id": t } }),
            )
        }
        ChangeMemberRole | RemoveMember => {
            let person = app
                .create_person(&format!("p{n}@example.com"), &t, Role::User)
                .await;
            if action == ChangeMemberRole {
                (
                    "mutation($i: change_member_role_input!) { change_member_role(input: $i) { role } }",
                    json!({ "i": { "user_id": person.id, "role": "READ_ONLY_USER", "tenant_id": t } }),
                )
            } else {
                (
                    "mutation($i: remove_member_input!) { remove_member(input: $i) { success } }",
                    json!({ "i": { "user_id": person.id, "tenant_id": t } }),
                )
            }
        }
        DemoteTheLastHumanAdmin => (
            "mutation($i: change_member_role_input!) { change_member_role(input: $i) { role } }",
            json!({ "i": { "user_id": m.admin.id, "role": "USER", "tenant_id": t } }),
        ),
        ReadAuditLog => (
            "query($t: UUID) { audit_events(tenant_id: $t, page: 1, per_page: 10) { total events { action } } }",
            json!({ "t": t }),
        ),
        ChangeOwnPassword => (
            "mutation($i: change_password_input!) { change_password(input: $i) { success } }",
            json!({ "i": { "current_password": crate::support::PASSWORD, "new_password": crate::support::PASSWORD } }),
        ),
    };
    let answer = gql(app, key, query, vars).await;
    answer
        .get("errors")
        .map(|_| error_code(&answer).unwrap_or_else(|| format!("no code: {answer}")))
}

async fn the_permission_matrix_holds_through_graphql_for_every_kind_of_caller(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let m = matrix_world(&app).await;
    let mut wrong = Vec::new();
    let mut n = 0;
    for action in ACTIONS {
        for caller in CALLERS {
            n += 1;
            let got = attempt(&app, &m, caller, action, n).await;
            let want = expected(caller, action).map(str::to_string);
            if got != want {
                wrong.push(format!(
                    "{caller:?} / {action:?}: expected {want:?}, got {got:?}"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the matrix does not hold:\n{}",
        wrong.join("\n")
    );
}

async fn auth_api_key_adds_service_account_keys_for_admins_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let m = matrix_world(&app).await;
    let sa = app.create_service_account(&m.tenant.id, "builder").await;
    let (sa_key_id, _) = app.create_key(&sa.id, &m.tenant.id, None).await;
    let (victim_key_id, _) = app.create_key(&m.victim.id, &m.tenant.id, None).await;
    let ids = |answer: &Value| -> Vec<String> {
        answer["data"]["auth_api_key"]
            .as_array()
            .unwrap_or_else(|| panic!("{answer}"))
            .iter()
            .map(|k| k["id"].as_str().unwrap().to_string())
            .collect()
    };
    let q = "{ auth_api_key { id user_id } }";
    for caller in [Caller::Admin, Caller::ServiceAccount] {
        let seen = ids(&gql(&app, m.key(caller), q, json!({})).await);
        assert!(
            seen.contains(&sa_key_id),
            "{caller:?} sees service-account keys"
        );
        assert!(
            !seen.contains(&victim_key_id),
            "{caller:?} never sees a person's key"
        );
    }
    for caller in [Caller::User, Caller::ReadOnlyUser, Caller::OtherTenantAdmin] {
        let answer = gql(&app, m.key(caller), q, json!({})).await;
        let me = &m.account(caller).id;
        assert!(
            answer["data"]["auth_api_key"]
                .as_array()
                .unwrap()
                .iter()
                .all(|k| k["user_id"] == json!(me)),
            "{caller:?} sees only its own keys: {answer}"
        );
        assert_eq!(ids(&answer).len(), 1);
    }
}

async fn dashboard_actions_work_through_graphql(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let key = Some(w.admin_key.as_str());
    let created = gql(
        &app,
        key,
        "mutation($i: create_service_account_input!) { create_service_account(input: $i) { id name tenant_id key_count } }",
        json!({ "i": { "name": "deployer" } }),
    )
    .await;
    let sa = &created["data"]["create_service_account"];
    assert_eq!(sa["tenant_id"], json!(w.tenant.id), "{created}");
    assert_eq!(sa["key_count"], json!(0));
    let sa_id = sa["id"].as_str().unwrap().to_string();
    let renamed = gql(
        &app,
        key,
        "mutation($i: rename_service_account_input!) { rename_service_account(input: $i) { name } }",
        json!({ "i": { "id": sa_id, "name": "shipper" } }),
    )
    .await;
    assert_eq!(
        renamed["data"]["rename_service_account"]["name"],
        json!("shipper")
    );
    let made = gql(
        &app,
        key,
        "mutation($i: create_api_key_input!) { create_api_key(input: $i) { id key } }",
        json!({ "i": { "user_id": sa_id, "name": "ship" } }),
    )
    .await;
    let sa_secret = made["data"]["create_api_key"]["key"]
        .as_str()
        .unwrap()
        .to_string();
    let detail = gql(
        &app,
        key,
        "query($id: UUID!) { service_account(id: $id) { key_count api_keys { name } } }",
        json!({ "id": sa_id }),
    )
    .await;
    assert_eq!(
        detail["data"]["service_account"],
        json!({ "key_count": 1, "api_keys": [{ "name": "ship" }] })
    );
    let listed = gql(&app, key, "{ service_accounts { name } }", json!({})).await;
    assert_eq!(
        listed["data"]["service_accounts"],
        json!([{ "name": "shipper" }])
    );

    // A note tells pending links apart; a hidden formatting character is refused.
    let refused = gql(
        &app,
        key,
        "mutation { create_invitation(input: { role: USER, note: \"for\\u202eGrace\" }) { token } }",
        json!({}),
    )
    .await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"],
        json!("BAD_USER_INPUT"),
        "{refused}"
    );
    assert!(refused["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("note"));
    let invited = gql(
        &app,
        key,
        "mutation { create_invitation(input: { role: READ_ONLY_USER, note: \" for Grace \" }) { token invitation { id role note } } }",
        json!({}),
    )
    .await;
    assert!(
        invited["data"]["create_invitation"]["token"].is_string(),
        "{invited}"
    );
    assert_eq!(
        invited["data"]["create_invitation"]["invitation"]["note"],
        json!("for Grace")
    );
    let pending = gql(&app, key, "{ invitations { id role note } }", json!({})).await;
    assert_eq!(
        pending["data"]["invitations"],
        json!([invited["data"]["create_invitation"]["invitation"]])
    );
    let bob = app
        .create_person("bob@example.com", &w.tenant.id, Role::User)
        .await;
    let changed = gql(
        &app,
        key,
        "mutation($i: change_member_role_input!) { change_member_role(input: $i) { user_id role } }",
        json!({ "i": { "user_id": bob.id, "role": "ADMIN" } }),
    )
    .await;
    assert_eq!(
        changed["data"]["change_member_role"]["role"],
        json!("ADMIN")
    );
    let members = gql(
        &app,
        key,
        "{ members { user_id role account_type } }",
        json!({}),
    )
    .await;
    assert_eq!(
        members["data"]["members"].as_array().unwrap().len(),
        3,
        "{members}"
    );
    let removed = gql(
        &app,
        key,
        "mutation($i: remove_member_input!) { remove_member(input: $i) { success } }",
        json!({ "i": { "user_id": bob.id } }),
    )
    .await;
    assert_eq!(
        removed["data"]["remove_member"]["success"],
        json!(true),
        "{removed}"
    );

    let gone = gql(
        &app,
        key,
        "mutation($i: remove_service_account_input!) { remove_service_account(input: $i) { success } }",
        json!({ "i": { "id": sa_id } }),
    )
    .await;
    assert_eq!(
        gone["data"]["remove_service_account"]["success"],
        json!(true)
    );
    let answer = gql(
        &app,
        Some(&sa_secret),
        "{ auth_info { user_id } }",
        json!({}),
    )
    .await;
    assert_unauthenticated_shape(&answer);

    let log = gql(
        &app,
        key,
        "{ audit_events(action: \"service_account.created\") { total pages events { action actor_id actor_key_id } } }",
        json!({}),
    )
    .await;
    let page = &log["data"]["audit_events"];
    assert_eq!(page["total"], json!(1), "{log}");
    assert_eq!(page["events"][0]["actor_key_id"], json!(w.admin_key_id));
    let all = gql(
        &app,
        key,
        "{ audit_events(per_page: 2) { total pages events { action } } }",
        json!({}),
    )
    .await;
    assert!(
        all["data"]["audit_events"]["pages"].as_i64().unwrap() > 1,
        "{all}"
    );
    let bad = gql(
        &app,
        key,
        "{ audit_events(per_page: 0) { total } }",
        json!({}),
    )
    .await;
    assert_eq!(error_code(&bad).as_deref(), Some("BAD_USER_INPUT"));
}

async fn graphiql_is_served_with_its_assets_from_keyward_itself(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app.client.get(app.url("/graphql")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self';"),
        "no inline or foreign scripts: {csp}"
    );
    let page = res.text().await.unwrap();
    assert!(page.contains("GraphiQL"));
    assert_eq!(
        page.matches("<script").count(),
        page.matches("<script src=\"/static/").count(),
        "every script is a file from /static: {page}"
    );
    let srcs: Vec<&str> = page
        .split('"')
        .filter(|s| s.ends_with(".js") || s.ends_with(".css"))
        .collect();
    assert_eq!(srcs.len(), 6, "{srcs:?}");
    for src in srcs {
        assert!(src.starts_with("/static/"), "no CDN: {src}");
        let res = app.client.get(app.url(src)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{src}");
        let cache = res.headers()["cache-control"].to_str().unwrap().to_string();
        if src.starts_with("/static/vendor/") {
            assert!(cache.contains("max-age=31536000"), "{src}: {cache}");
        } else {
            assert!(cache.contains("max-age="), "{src}: {cache}");
        }
        assert!(res.bytes().await.unwrap().len() > 300, "{src}");
    }
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no CDN"
    );
}

// ---------------------------------------------------------------------------------------
// The committed schema and the route table

#[test]
fn the_committed_schema_graphql_matches_the_live_schema() {
    let live = keyward::graphql::build_schema().sdl();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    if std::env::var("KEYWARD_UPDATE_SCHEMA").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &live).expect("write schema.graphql");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == live,
        "schema.graphql differs from the live schema; regenerate it with \
         `KEYWARD_UPDATE_SCHEMA=1 cargo test -q schema` and commit it"
    );
}

/// Every state-changing route names an existing mutation or says why it has none.
/// The routes DESIGN §5 exempts from parity: the GraphQL endpoint itself, login, logout,
/// setup, tenant switch and invitation accept; account recovery, which like login is
/// done by someone who cannot sign in, and an admin's reset link, which only a signed-in
/// admin makes (a leaked API key must not become a person's account); and two-factor,
/// which guards the browser sign-in (its code step is part of login; a key must not turn
/// it on or off: docs/DECISIONS.md).
const EXEMPT: [&str; 19] = [
    "/graphql",
    "/",
    "/login",
    "/sign-in/oidc/link",
    "/login/two-factor",
    "/user/two-factor/enable",
    "/user/two-factor/recovery-codes",
    "/user/two-factor/disable",
    "/user/single-sign-on/remove",
    "/logout",
    "/setup",
    "/tenant",
    "/t/{slug}/join/{token}",
    "/t/{slug}/join/{token}/account",
    "/forgot-password",
    "/reset-password",
    "/t/{slug}/team/members/{account_id}/reset-link",
    "/api/secret-scanning/gitlab/v1/revoke_tokens",
    "/t/{slug}/team/security/revoke-key",
];

fn parity_violations(
    routes: &[keyward::web::routes::RouteSpec],
    mutations: &[String],
) -> Vec<String> {
    use keyward::web::routes::Parity;
    routes
        .iter()
        .filter(|r| r.method != actix_web::http::Method::GET)
        .filter_map(|r| match r.parity {
            Parity::Read => Some(format!(
                "{} {} changes state but is marked Read: name its GraphQL mutation or its exemption",
                r.method, r.path
            )),
            Parity::Mutation(name) if !mutations.iter().any(|m| m == name) => Some(format!(
                "{} {} names the mutation {name}, which the schema does not have",
                r.method, r.path
            )),
            Parity::Exempt(reason) if reason.trim().is_empty() => {
                Some(format!("{} {} is exempt without a reason", r.method, r.path))
            }
            // DESIGN §5 names the exemptions; any other route needs a counterpart.
            Parity::Exempt(_) if !EXEMPT.contains(&r.path) => Some(format!(
                "{} {} claims an exemption DESIGN §5 does not give (GraphQL itself, login, logout, setup, tenant switch, invitation accept)",
                r.method, r.path
            )),
            _ => None,
        })
        .collect()
}

async fn mutation_names() -> Vec<String> {
    let answer = keyward::graphql::build_schema()
        .execute("{ __schema { mutationType { fields { name } } } }")
        .await;
    assert!(answer.errors.is_empty(), "{:?}", answer.errors);
    let data = answer.data.into_json().unwrap();
    data["__schema"]["mutationType"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn every_state_changing_route_names_its_graphql_mutation_or_its_exemption() {
    let mutations = mutation_names().await;
    assert!(mutations.contains(&"create_api_key".to_string()));
    let violations = parity_violations(&keyward::web::routes::routes(), &mutations);
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[tokio::test]
async fn the_parity_check_fails_a_state_changing_route_marked_read_or_naming_no_mutation() {
    use keyward::web::routes::{Parity, RouteSpec};
    let mutations = mutation_names().await;
    let spec = |method, parity| RouteSpec {
        method,
        path: "/t/{slug}/team/service-accounts",
        parity,
        handler: actix_web::web::route,
    };
    let bad = [
        spec(actix_web::http::Method::POST, Parity::Read),
        spec(
            actix_web::http::Method::DELETE,
            Parity::Mutation("no_such_mutation"),
        ),
        spec(actix_web::http::Method::POST, Parity::Exempt(" ")),
        spec(
            actix_web::http::Method::POST,
            Parity::Exempt("a team action that should have a mutation"),
        ),
    ];
    assert_eq!(parity_violations(&bad, &mutations).len(), 4);
    let good = [
        spec(
            actix_web::http::Method::POST,
            Parity::Mutation("create_service_account"),
        ),
        spec(actix_web::http::Method::GET, Parity::Read),
    ];
    assert!(parity_violations(&good, &mutations).is_empty());
}
