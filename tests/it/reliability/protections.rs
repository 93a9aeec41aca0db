//! Every route's protections, read from the route table (`src/web/routes.rs`) and the
//! GraphQL schema, so a new route or mutation cannot ship unprotected: each
//! state-changing route refuses an anonymous caller and a missing or wrong CSRF token,
//! each page sends the security headers, and each mutation refuses an anonymous caller
//! and a member whose role the permission matrix does not allow; a signed-in browser's
//! cookie, sent from another site without the CSRF token, changes nothing anywhere; and
//! the key-authenticated surfaces never read the session.

use super::{error_code, Caller, Figures};
use crate::backend_tests;
use crate::support::browser::{location, Browser};
use crate::support::{database_rows, Backend, Seeded, TestApp};
use actix_web::http::Method;
use keyward::domain::Role;
use keyward::web::routes::{routes, Parity, RouteSpec};
use serde_json::{json, Value};

backend_tests!(
    every_route_and_mutation_refuses_callers_it_must_refuse,
    cookie_only_cross_site_posts_to_every_route_and_mutation_are_refused_and_change_nothing,
    api_requests_carrying_a_session_cookie_never_touch_the_session_store,
    percent_encoded_paths_are_routed_as_they_decode_with_that_routes_protections,
);

const SECURITY_HEADERS: [&str; 4] = [
    "content-security-policy",
    "x-content-type-options",
    "x-frame-options",
    "referrer-policy",
];

/// The GraphQL endpoint itself authenticates by key, not cookie.
fn is_graphql(path: &str) -> bool {
    path == "/graphql" || path == "/"
}

async fn mutation_names() -> Vec<String> {
    let answer = keyward::graphql::build_schema()
        .execute("{ __schema { mutationType { fields { name } } } }")
        .await;
    let data = answer.data.into_json().unwrap();
    data["__schema"]["mutationType"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect()
}

/// A tenant `acme` with an admin and a member who hold keys, a service account with a
/// key, and a pending invitation: the targets the walks below aim at.
struct Site {
    app: TestApp,
    tenant: String,
    admin: Seeded,
    member: Seeded,
    member_key: String,
    admin_key: String,
    sa: Seeded,
    sa_key_id: String,
    sa_key: String,
    invitation_id: String,
}

async fn site(backend: Backend) -> Site {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("acme").await.id;
    let admin = app
        .create_person("ada@example.com", &tenant, Role::Admin)
        .await;
    let member = app
        .create_person("bob@example.com", &tenant, Role::User)
        .await;
    let (_, member_key) = app.create_key(&member.id, &tenant, None).await;
    let (_, admin_key) = app.create_key(&admin.id, &tenant, None).await;
    let sa = app.create_service_account(&tenant, "robot").await;
    let (sa_key_id, sa_key) = app.create_key(&sa.id, &tenant, None).await;
    let invitation_id = app
        .create_invitation(&admin.id, &tenant, Role::User)
        .await
        .invitation
        .id;
    Site {
        app,
        tenant,
        admin,
        member,
        member_key,
        admin_key,
        sa,
        sa_key_id,
        sa_key,
        invitation_id,
    }
}

impl Site {
    /// A route's path with real targets in it.
    fn fill(&self, path: &str) -> String {
        path.replace("{slug}", "acme")
            .replace("{sa_id}", &self.sa.id)
            .replace("{id}", &self.sa_key_id)
            .replace("{account_id}", &self.member.id)
            .replace("{invitation_id}", &self.invitation_id)
            .replace("{token}", "x")
            .replace("{page}", "members")
            .replace("{path:.*}", "x")
    }

    /// The state-changing routes of the route table, but GraphQL's own.
    fn state_changing_routes(&self) -> impl Iterator<Item = RouteSpec> {
        routes()
            .into_iter()
            .filter(|route| route.method != Method::GET && !is_graphql(route.path))
    }

    /// Every mutation: (name, document, input with valid targets, whether a USER member
    /// may send it). A test checks that the schema has no mutation missing here.
    fn mutation_documents(&self) -> Vec<(&'static str, String, Value, bool)> {
        let (sa, sa_key_id, admin) = (&self.sa, &self.sa_key_id, &self.admin);
        #[rustfmt::skip]
        let documents = vec![
        ("change_password", "mutation($i: change_password_input!) { change_password(input: $i) { success } }".into(),
            json!({ "current_password": "wrong but long", "new_password": "long enough password" }), true),
        ("create_api_key", "mutation($i: create_api_key_input!) { create_api_key(input: $i) { id } }".into(),
            json!({ "user_id": sa.id, "name": "stolen" }), false),
        ("delete_api_key", "mutation($i: delete_api_key_input!) { delete_api_key(input: $i) { success } }".into(),
            json!({ "key_id": sa_key_id }), false),
        ("set_api_key_allowed_ips", "mutation($i: set_api_key_allowed_ips_input!) { set_api_key_allowed_ips(input: $i) { id } }".into(),
            json!({ "key_id": sa_key_id, "allowed_ips": [] }), false),
        ("create_service_account", "mutation($i: create_service_account_input!) { create_service_account(input: $i) { id } }".into(),
            json!({ "name": "sneaky" }), false),
        ("rename_service_account", "mutation($i: rename_service_account_input!) { rename_service_account(input: $i) { id } }".into(),
            json!({ "id": sa.id, "name": "renamed" }), false),
        ("remove_service_account", "mutation($i: remove_service_account_input!) { remove_service_account(input: $i) { success } }".into(),
            json!({ "id": sa.id }), false),
        ("create_invitation", "mutation($i: create_invitation_input!) { create_invitation(input: $i) { token } }".into(),
            json!({ "role": "ADMIN" }), false),
        ("revoke_invitation", "mutation($i: revoke_invitation_input!) { revoke_invitation(input: $i) { success } }".into(),
            json!({ "id": uuid::Uuid::new_v4().to_string() }), false),
        ("change_member_role", "mutation($i: change_member_role_input!) { change_member_role(input: $i) { role } }".into(),
            json!({ "user_id": admin.id, "role": "USER" }), false),
        ("remove_member", "mutation($i: remove_member_input!) { remove_member(input: $i) { success } }".into(),
            json!({ "user_id": admin.id }), false),
        ("rotate_api_key", "mutation($i: rotate_api_key_input!) { rotate_api_key(input: $i) { id } }".into(),
            json!({ "key_id": sa_key_id, "overlap_hours": 0 }), false),
        ("set_tenant_key_policy", "mutation($i: set_tenant_key_policy_input!) { set_tenant_key_policy(input: $i) { require_expiry } }".into(),
            json!({ "require_expiry": true }), false),
        ("set_tenant_two_factor_required", "mutation($i: set_tenant_two_factor_required_input!) { set_tenant_two_factor_required(input: $i) { required } }".into(),
            json!({ "required": true }), false),
        ("set_tenant_sso_required", "mutation($i: set_tenant_sso_required_input!) { set_tenant_sso_required(input: $i) { required } }".into(),
            json!({ "required": true }), false),

        // Webhooks: admins only (another tenant's, or none: NOT_FOUND).
        ("create_webhook", "mutation($i: create_webhook_input!) { create_webhook(input: $i) { secret } }".into(),
            json!({ "url": "https://hooks.example.com/x", "events": ["api_key.created"] }), false),
        ("update_webhook", "mutation($i: update_webhook_input!) { update_webhook(input: $i) { id } }".into(),
            json!({ "id": uuid::Uuid::new_v4().to_string(), "enabled": false }), false),
        ("delete_webhook", "mutation($i: webhook_id_input!) { delete_webhook(input: $i) { success } }".into(),
            json!({ "id": uuid::Uuid::new_v4().to_string() }), false),
        ("rotate_webhook_secret", "mutation($i: webhook_id_input!) { rotate_webhook_secret(input: $i) { secret } }".into(),
            json!({ "id": uuid::Uuid::new_v4().to_string() }), false),
        ("redeliver_webhook", "mutation($i: redeliver_webhook_input!) { redeliver_webhook(input: $i) { success } }".into(),
            json!({ "delivery_id": "msg_x" }), false),

        // Each person sets their own notices.
        ("set_notification", "mutation($i: set_notification_input!) { set_notification(input: $i) { enabled } }".into(),
            json!({ "kind": "KEY_CREATED", "enabled": false }), true),

        // Any key may register its agent and poll; both stay in the key's tenant.
        ("register_agent", "mutation($i: register_agent_input!) { register_agent(input: $i) { id } }".into(),
            json!({ "name": "agent", "type": "LocalAgent" }), true),
        ("get_runs_in_queue", "mutation($i: get_runs_in_queue_input!) { get_runs_in_queue(input: $i) { flow_run_ids } }".into(),
            json!({ "labels": [] }), true),
    ];
        documents
    }
}

async fn every_route_and_mutation_refuses_callers_it_must_refuse(backend: Backend) {
    let site = site(backend).await;
    let Site {
        app,
        admin,
        member_key,
        admin_key,
        sa_key,
        ..
    } = &site;
    let mut figures = Figures::on("route_and_mutation_protections", backend);

    let anonymous = Browser::new(app);
    let signed_in = Browser::new(app);
    let csrf = signed_in.sign_in(&admin.name).await;
    let mut violations = Vec::new();
    for route in routes() {
        let path = site.fill(route.path);
        if route.method == Method::GET {
            let res = signed_in.get(&path).await;
            figures.requests += 1;
            for name in SECURITY_HEADERS {
                if !res.headers().contains_key(name) {
                    violations.push(format!("GET {} sends no {name}", route.path));
                }
            }
            continue;
        }
        if is_graphql(route.path) {
            continue; // the mutations are walked below
        }
        // Anonymous: only the exempt routes (sign-in, setup, joining) serve strangers.
        if !matches!(route.parity, Parity::Exempt(_)) {
            let res = anonymous.post(&path, &[]).await;
            figures.requests += 1;
            let status = res.status().as_u16();
            let to_login = status == 303 && location(&res).starts_with("/login");
            if !(to_login || status == 401) {
                figures.unauthorised_successes += 1;
                violations.push(format!("anonymous POST {} answered {status}", route.path));
            }
        }
        // A route that authenticates by a key or token (the revocation API) ignores the
        // cookie: without its token it answers 401, or 404 while it is off.
        if keyward::web::routes::authenticates_by_key(&route.method, route.path) {
            let res = signed_in.post(&path, &[]).await;
            figures.requests += 1;
            let status = res.status().as_u16();
            if !matches!(status, 401 | 404) {
                figures.unauthorised_successes += 1;
                violations.push(format!(
                    "POST {} with a cookie only answered {status}",
                    route.path
                ));
            }
            continue;
        }
        // Signed in, without and with a wrong CSRF token.
        for form in [vec![], vec![("csrf_token", "not-the-token")]] {
            let res = signed_in.post(&path, &form).await;
            figures.requests += 1;
            let status = res.status().as_u16();
            if status != 403 {
                figures.unauthorised_successes += 1;
                violations.push(format!(
                    "POST {} with csrf {:?} answered {status}",
                    route.path, form
                ));
            }
        }
    }
    // The session still works: the refusals above changed nothing.
    assert_eq!(signed_in.get("/user/api-keys").await.status(), 200);
    let _ = csrf;

    // Every mutation: a document with valid targets, and whether a USER member may send it.
    let documents = site.mutation_documents();
    let mut walked: Vec<&str> = documents.iter().map(|d| d.0).collect();
    walked.sort_unstable();
    let mut in_schema = mutation_names().await;
    in_schema.sort_unstable();
    assert_eq!(
        walked, in_schema,
        "every mutation needs a row here (a document and whether a USER member may send it)"
    );
    let caller = Caller::new(app.address.clone());
    for (name, query, input, member_may) in &documents {
        let (_, answer) = caller
            .gql(None, query, json!({ "i": input }))
            .await
            .unwrap();
        figures.requests += 1;
        if error_code(&answer) != Some("UNAUTHENTICATED") {
            figures.unauthorised_successes += 1;
            violations.push(format!("anonymous {name}: {answer}"));
        }
        if *member_may {
            continue;
        }
        let (_, answer) = caller
            .gql(Some(member_key.as_str()), query, json!({ "i": input }))
            .await
            .unwrap();
        figures.requests += 1;
        let refused = matches!(error_code(&answer), Some("FORBIDDEN" | "NOT_FOUND"))
            || answer["data"][name]["success"] == false;
        if !refused {
            figures.unauthorised_successes += 1;
            violations.push(format!("a USER member's {name}: {answer}"));
        }
    }
    // Nothing the refused calls targeted changed.
    assert_eq!(
        caller.whoami(sa_key).await,
        200,
        "the service account's key stopped working"
    );
    let (_, me) = caller
        .gql(
            Some(admin_key.as_str()),
            "{ auth_info { role } }",
            json!({}),
        )
        .await
        .unwrap();
    assert_eq!(me["data"]["auth_info"]["role"], "ADMIN", "{me}");
    figures.print();
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

const ANOTHER_SITE: &str = "https://evil.example";

/// POSTs a GraphQL document from `browser`, its cookie included, to `endpoint`, with a
/// key (`Ok`) or, without one, from a page at the `Err` origin.
async fn graphql_from(
    browser: &Browser,
    endpoint: &str,
    key_or_origin: Result<&str, &str>,
    document: &Value,
) -> Value {
    let req = browser.client.post(browser.url(endpoint)).json(document);
    let req = match key_or_origin {
        Ok(key) => req.bearer_auth(key),
        Err(origin) => req.header("Origin", origin),
    };
    req.send().await.unwrap().json().await.unwrap()
}

/// What a page on another site can make a signed-in admin's browser send: the session
/// cookie, a form or a GraphQL document, an `Origin` of its own and no CSRF token.
async fn cookie_only_cross_site_posts_to_every_route_and_mutation_are_refused_and_change_nothing(
    backend: Backend,
) {
    let site = site(backend).await;
    let browser = Browser::new(&site.app);
    browser.sign_in(&site.admin.name).await;
    let before = database_rows(&site.app).await;
    let form = [
        ("name", "forged"),
        ("role", "ADMIN"),
        ("nonce", "forged-nonce"),
        ("expiration", "never"),
        ("tenant_id", site.tenant.as_str()),
        ("current_password", crate::support::PASSWORD),
        ("new_password", "a forged long password"),
        ("new_password_confirmation", "a forged long password"),
        ("allowed_ips", "203.0.113.7"),
        ("require_expiry", "on"),
        ("required", "on"),
    ];
    let mut violations = Vec::new();
    let mut routes_walked = 0;
    for route in site.state_changing_routes() {
        let path = site.fill(route.path);
        let res = browser
            .client
            .post(browser.url(&path))
            .header("Origin", ANOTHER_SITE)
            .form(&form)
            .send()
            .await
            .unwrap();
        routes_walked += 1;
        // A route that authenticates by a key or token ignores the cookie (401, or 404 off).
        if keyward::web::routes::authenticates_by_key(&route.method, route.path)
            && matches!(res.status().as_u16(), 401 | 404)
        {
            continue;
        }
        if res.status() != 403 {
            violations.push(format!("POST {path} answered {}", res.status()));
        }
    }
    assert!(
        routes_walked >= 30,
        "the route table's forms: {routes_walked}"
    );
    let documents = site.mutation_documents();
    for (name, query, input, _) in &documents {
        for endpoint in ["/graphql", "/"] {
            let document = json!({ "query": query, "variables": { "i": input } });
            let answer = graphql_from(&browser, endpoint, Err(ANOTHER_SITE), &document).await;
            if error_code(&answer) != Some("UNAUTHENTICATED") || !answer["data"].is_null() {
                violations.push(format!("{name} at {endpoint}: {answer}"));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
    let after = database_rows(&site.app).await;
    let changed: Vec<_> = after
        .iter()
        .filter(|row| !before.contains(row))
        .chain(before.iter().filter(|row| !after.contains(row)))
        .collect();
    assert!(changed.is_empty(), "rows added or removed: {changed:#?}");
    // The cookie was a good one: the same browser, from its own pages, is signed in.
    assert_eq!(browser.get("/user/api-keys").await.status(), 200);
}

/// GraphQL and `/api/*` authenticate by key only; a cookie the browser sends along (as
/// GraphiQL's does) must not cost a session read. With the session table gone, the
/// dashboard fails for that cookie while the key surfaces answer as before.
async fn api_requests_carrying_a_session_cookie_never_touch_the_session_store(backend: Backend) {
    let site = site(backend).await;
    let browser = Browser::new(&site.app);
    browser.sign_in(&site.admin.name).await;
    site.app
        .sql("ALTER TABLE sessions RENAME TO sessions_out_of_reach")
        .await;
    let page = browser.get("/user/api-keys").await;
    assert!(
        page.status().is_server_error(),
        "the session store is failing: {}",
        page.status()
    );
    // The session middleware's error answer, too, has the security headers and the id.
    for name in ["x-request-id", "content-security-policy", "x-frame-options"] {
        assert!(page.headers().contains_key(name), "{name} on the 503");
    }
    let whoami = browser
        .client
        .get(browser.url("/api/whoami"))
        .bearer_auth(&site.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(whoami.status(), 200);
    let body: Value = whoami.json().await.unwrap();
    assert_eq!(body["account_id"], site.admin.id.as_str());
    for endpoint in ["/graphql", "/"] {
        let document = json!({ "query": "{ auth_info { user_id } }" });
        let answer = graphql_from(&browser, endpoint, Ok(&site.admin_key), &document).await;
        assert_eq!(
            answer["data"]["auth_info"]["user_id"],
            site.admin.id.as_str(),
            "{answer}"
        );
    }
    // The probes, GraphiQL and the static files it and the pages load.
    for path in [
        "/healthz",
        "/readyz",
        "/graphql",
        "/static/keyward-graphiql.js",
        "/static/keyward.css",
        "/favicon.ico",
    ] {
        assert_eq!(browser.get(path).await.status(), 200, "{path}");
    }
    site.app
        .sql("ALTER TABLE sessions_out_of_reach RENAME TO sessions")
        .await;
    assert_eq!(browser.get("/user/api-keys").await.status(), 200);
}

/// Which routes run without a session is decided on the raw path, while actix matches
/// routes on the decoded one (the sessionless routes are registered first, so an escaped
/// API path still finds its route there). A percent-encoded path must land on a route
/// with that route's own protections: an API route without a session read, a dashboard
/// form never without its CSRF check.
async fn percent_encoded_paths_are_routed_as_they_decode_with_that_routes_protections(
    backend: Backend,
) {
    let site = site(backend).await;
    let browser = Browser::new(&site.app);
    browser.sign_in(&site.admin.name).await;
    let before = database_rows(&site.app).await;
    // A dashboard form, spelled with escapes, cookie only, from another site.
    for path in ["/%75ser/api-keys", "/user/%61pi-keys", "/user%2Fapi-keys"] {
        let res = browser
            .client
            .post(browser.url(path))
            .header("Origin", ANOTHER_SITE)
            .form(&[("name", "sneaky")])
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        assert_eq!(status, 403, "POST {path}: the CSRF check refuses it");
    }
    assert_eq!(database_rows(&site.app).await, before, "nothing changed");
    // An API route spelled with escapes, with the session store gone.
    site.app
        .sql("ALTER TABLE sessions RENAME TO sessions_out_of_reach")
        .await;
    for path in ["/%61pi/whoami", "/api/%77hoami"] {
        let res = browser
            .client
            .get(browser.url(path))
            .bearer_auth(&site.admin_key)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        assert_eq!(status, 200, "GET {path}: the API route, no session read");
    }
    site.app
        .sql("ALTER TABLE sessions_out_of_reach RENAME TO sessions")
        .await;
}
