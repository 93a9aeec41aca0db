//! The key lifecycle in the dashboard (issue 14): the read-only box and badge, the rotate
//! dialog and its "Rotating" badge, the delete confirmation that offers what a key made,
//! and the service-account dialog's role (issue 12 point 6) and unique names (point 20).

use crate::backend_tests;
use crate::support::browser::{location, Browser};
use crate::support::{Backend, TestApp};
use keyward::domain::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

backend_tests!(
    keys_are_created_read_only_and_rotated_from_the_key_list,
    the_delete_dialog_offers_to_revoke_what_a_key_made,
    the_service_account_dialog_offers_the_role_and_refuses_a_taken_name,
    a_service_accounts_key_is_rotated_from_its_page,
    a_service_accounts_role_is_changed_on_its_page_by_admins_only,
    a_key_policy_limits_the_date_picker_and_a_refusal_names_the_last_day,
    rotating_asks_when_the_new_key_expires_within_the_tenants_policy,
    a_key_carries_what_it_is_for_from_the_dashboard_and_graphql,
);

const ADMIN: &str = "admin@example.com";

/// An admin and their key in a tenant whose keys must expire within 14 days.
async fn with_a_fourteen_day_policy(backend: Backend) -> (TestApp, String, String, String) {
    let (app, tenant, admin) = app_with_admin(backend).await;
    let (_, admin_key) = app.create_key(&admin, &tenant, None).await;
    let set = app
        .graphql(
            Some(&admin_key),
            "mutation($i: set_tenant_key_policy_input!) { set_tenant_key_policy(input: $i) { max_key_lifetime_days } }",
            json!({ "i": { "max_key_lifetime_days": 14 } }),
            &[],
        )
        .await;
    assert!(set["errors"].is_null(), "{set}");
    (app, tenant, admin, admin_key)
}

/// A GraphQL answer refused as BAD_USER_INPUT with a message saying `says`.
fn refused_saying(answer: &Value, says: &str) {
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{answer}"
    );
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains(says)),
        "{answer}"
    );
}

async fn app_with_admin(backend: Backend) -> (TestApp, String, String) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("acme").await.id;
    let admin = app.create_person(ADMIN, &tenant, Role::Admin).await.id;
    (app, tenant, admin)
}

async fn keys_are_created_read_only_and_rotated_from_the_key_list(backend: Backend) {
    let (app, tenant, admin) = app_with_admin(backend).await;
    let b = Browser::new(&app);
    b.sign_in(ADMIN).await;
    let (csrf, nonce) = b.open_create_form().await;
    let created = b
        .post(
            "/user/api-keys",
            &[
                ("csrf_token", &csrf),
                ("nonce", &nonce),
                ("name", "grafana"),
                ("expiration", "30"),
                ("tenant_id", &tenant),
                ("read_only", "on"),
            ],
        )
        .await;
    assert_eq!(created.status(), StatusCode::OK);
    let html = created.text().await.unwrap();
    let marker = "id=\"new-api-key\" value=\"";
    let start = html.find(marker).expect("the new key") + marker.len();
    let token = html[start..start + html[start..].find('"').unwrap()].to_string();
    let info = app
        .graphql(
            Some(&token),
            "{ auth_info { read_only } }",
            Value::Null,
            &[],
        )
        .await;
    assert_eq!(info["data"]["auth_info"]["read_only"], true);
    let list = b.get("/user/api-keys").await.text().await.unwrap();
    assert!(list.contains("data-read-only"), "the row says read-only");

    // A second key of the same name is refused beside the name field.
    let (csrf, nonce) = b.open_create_form().await;
    let twice = b
        .post(
            "/user/api-keys",
            &[
                ("csrf_token", &csrf),
                ("nonce", &nonce),
                ("name", "grafana"),
                ("expiration", "30"),
                ("tenant_id", &tenant),
            ],
        )
        .await;
    assert_eq!(twice.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = twice.text().await.unwrap();
    assert!(
        html.contains("data-field-error=\"name\"") && html.contains("already has an API key named"),
        "{html}"
    );

    // Rotate it from the list: the dialog, then the new key shown once.
    let key_id = app
        .graphql(
            Some(&token),
            "{ auth_info { api_key_id } }",
            Value::Null,
            &[],
        )
        .await["data"]["auth_info"]["api_key_id"]
        .as_str()
        .unwrap()
        .to_string();
    let rotate_url = format!("/user/api-keys/{key_id}/rotate");
    assert!(list.contains(&rotate_url), "a rotate action on the row");
    let dialog = b.get_hx(&rotate_url).await.text().await.unwrap();
    assert!(dialog.contains("name=\"overlap_hours\""), "{dialog}");
    let rotated = b
        .post_hx(
            &rotate_url,
            &[("csrf_token", &csrf), ("overlap_hours", "24")],
        )
        .await;
    assert_eq!(rotated.status(), StatusCode::OK);
    let html = rotated.text().await.unwrap();
    assert!(html.contains("id=\"new-api-key\""), "{html}");
    assert!(html.contains("The old key stops working at"), "{html}");
    let list = b.get("/user/api-keys").await.text().await.unwrap();
    assert!(
        list.contains(">Rotating</mark>") && list.contains("stops working at"),
        "{list}"
    );
    assert!(
        !list.contains(&rotate_url),
        "a rotating key is not rotated again"
    );
    // Both keys work during the overlap; the successor is read-only too.
    assert_eq!(app.get_with_key("/api/whoami", &token).await.status(), 200);
    let bad = b
        .post(
            &rotate_url,
            &[("csrf_token", &csrf), ("overlap_hours", "5")],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad
        .text()
        .await
        .unwrap()
        .contains("must be 0 (none), 1, 24 or 168"));

    // A key expiring within 7 days is badged, and admins get a banner; the rotating key
    // stops within 7 days too, so the banner counts it (issue 31 point 10: one rule).
    assert!(
        list.contains("1 key you manage expires within 7 days: grafana"),
        "{list}"
    );
    let soon = app.clock.now() + time::Duration::days(3);
    app.create_key(&admin, &tenant, Some(soon)).await;
    let list = b.get("/user/api-keys").await.text().await.unwrap();
    assert!(list.contains("data-expiring-soon"), "{list}");
    assert!(list.contains("id=\"expiring-keys-banner\""), "{list}");
    assert!(
        list.contains("2 keys you manage expire within 7 days"),
        "{list}"
    );
}

async fn the_delete_dialog_offers_to_revoke_what_a_key_made(backend: Backend) {
    let (app, tenant, admin) = app_with_admin(backend).await;
    let (key_id, key) = app.create_key(&admin, &tenant, None).await;
    let made = app
        .graphql(
            Some(&key),
            "mutation($i: create_service_account_input!) { create_service_account(input: $i) { id } }",
            json!({ "i": { "name": "minted" } }),
            &[],
        )
        .await;
    let sa = made["data"]["create_service_account"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let child = app
        .graphql(
            Some(&key),
            "mutation($i: create_api_key_input!) { create_api_key(input: $i) { key } }",
            json!({ "i": { "user_id": admin, "name": "child" } }),
            &[],
        )
        .await;
    let child = child["data"]["create_api_key"]["key"]
        .as_str()
        .unwrap()
        .to_string();

    let b = Browser::new(&app);
    let csrf = b.sign_in(ADMIN).await;
    let url = format!("/user/api-keys/{key_id}/delete");
    let dialog = b.get_hx(&url).await.text().await.unwrap();
    assert!(
        dialog.contains("Revoke this key and the 1 key and 1 service account it created"),
        "{dialog}"
    );
    let res = b
        .post(&url, &[("csrf_token", &csrf), ("with_descendants", "on")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/user/api-keys");
    let page = b.get("/user/api-keys").await.text().await.unwrap();
    assert!(
        page.contains("and the 1 key and 1 service account it created"),
        "{page}"
    );
    for k in [&key, &child] {
        assert_eq!(app.get_with_key("/api/whoami", k).await.status(), 401);
    }
    let gone = b
        .get(&format!("/t/acme/team/service-accounts/{sa}"))
        .await
        .status();
    assert_eq!(gone, StatusCode::NOT_FOUND);
}

async fn the_service_account_dialog_offers_the_role_and_refuses_a_taken_name(backend: Backend) {
    let (app, tenant, admin) = app_with_admin(backend).await;
    let b = Browser::new(&app);
    let csrf = b.sign_in(ADMIN).await;
    let dialog = b
        .get_hx("/t/acme/team/service-accounts/new")
        .await
        .text()
        .await
        .unwrap();
    assert!(dialog.contains("name=\"role\""), "{dialog}");
    assert!(
        dialog.contains("<option value=\"ADMIN\" selected>"),
        "ADMIN by default"
    );
    let created = b
        .post(
            "/t/acme/team/service-accounts",
            &[("csrf_token", &csrf), ("name", "ci-bot"), ("role", "USER")],
        )
        .await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let sa_id = location(&created).rsplit('/').next().unwrap().to_string();
    // Its keys act with the role chosen.
    let (_, admin_key) = app.create_key(&admin, &tenant, None).await;
    let key = app
        .graphql(
            Some(&admin_key),
            "mutation($i: create_api_key_input!) { create_api_key(input: $i) { key } }",
            json!({ "i": { "user_id": sa_id, "name": "probe" } }),
            &[],
        )
        .await;
    let sa_key = key["data"]["create_api_key"]["key"]
        .as_str()
        .unwrap_or_else(|| panic!("{key}"));
    let info = app
        .graphql(Some(sa_key), "{ auth_info { role } }", Value::Null, &[])
        .await;
    assert_eq!(info["data"]["auth_info"]["role"], "USER");
    let twice = b
        .post(
            "/t/acme/team/service-accounts",
            &[("csrf_token", &csrf), ("name", "ci-bot")],
        )
        .await;
    assert_eq!(twice.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = twice.text().await.unwrap();
    assert!(
        html.contains("data-field-error=\"name\"")
            && html.contains("already has a service account named"),
        "{html}"
    );
}

async fn a_service_accounts_key_is_rotated_from_its_page(backend: Backend) {
    let (app, tenant, _) = app_with_admin(backend).await;
    let sa = app.create_service_account(&tenant, "deployer").await.id;
    let (key_id, token) = app.create_key(&sa, &tenant, None).await;
    let b = Browser::new(&app);
    let csrf = b.sign_in(ADMIN).await;
    let page_url = format!("/t/acme/team/service-accounts/{sa}");
    let page = b.get(&page_url).await.text().await.unwrap();
    let rotate_url = format!("{page_url}/api-keys/{key_id}/rotate");
    assert!(
        page.contains(&rotate_url),
        "a rotate action on the row: {page}"
    );
    let dialog = b.get_hx(&rotate_url).await.text().await.unwrap();
    assert!(dialog.contains("name=\"overlap_hours\""), "{dialog}");
    // Another tenant's or account's key is not found through this page.
    let other = app.create_service_account(&tenant, "other").await.id;
    let stranger = format!("/t/acme/team/service-accounts/{other}/api-keys/{key_id}/rotate");
    assert_eq!(b.get_hx(&stranger).await.status(), StatusCode::NOT_FOUND);

    let rotated = b
        .post_hx(
            &rotate_url,
            &[("csrf_token", &csrf), ("overlap_hours", "0")],
        )
        .await;
    assert_eq!(rotated.status(), StatusCode::OK);
    let html = rotated.text().await.unwrap();
    let marker = "id=\"new-api-key\" value=\"";
    let start = html.find(marker).expect("the new key") + marker.len();
    let new_token = &html[start..start + html[start..].find('"').unwrap()];
    assert!(new_token.starts_with("kws_"), "a service-account key");
    // Overlap 0: the old key is refused at once, the new one works as the account.
    assert_eq!(app.get_with_key("/api/whoami", &token).await.status(), 401);
    assert_eq!(
        app.get_with_key("/api/whoami", new_token).await.status(),
        200
    );
    let page = b.get(&page_url).await.text().await.unwrap();
    assert!(
        !page.contains(&rotate_url),
        "the old key is not rotated again"
    );
}

async fn a_service_accounts_role_is_changed_on_its_page_by_admins_only(backend: Backend) {
    let (app, tenant, admin_id) = app_with_admin(backend).await;
    let sa = app.create_service_account(&tenant, "deployer").await.id;
    let (_, sa_key) = app.create_key(&sa, &tenant, None).await;
    let b = Browser::new(&app);
    let csrf = b.sign_in(ADMIN).await;
    // The create dialog says beside the selector what each role lets the keys do.
    let dialog = b
        .get_hx("/t/acme/team/service-accounts/new")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        dialog.contains("aria-describedby=\"service-account-role-help\"")
            && dialog.contains("id=\"service-account-role-help\"")
            && dialog.contains("<strong>Read-only user</strong>"),
        "{dialog}"
    );
    let page_url = format!("/t/acme/team/service-accounts/{sa}");
    let page = b.get(&page_url).await.text().await.unwrap();
    assert!(
        page.contains("id=\"service-account-role-select\"")
            && page.contains("<option value=\"ADMIN\" selected>"),
        "a role selector with the current role: {page}"
    );
    let role_url = format!("{page_url}/role");
    let bad = b
        .post(&role_url, &[("csrf_token", &csrf), ("role", "OWNER")])
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let no_csrf = b.post(&role_url, &[("role", "USER")]).await;
    assert_eq!(no_csrf.status(), StatusCode::FORBIDDEN);
    let changed = b
        .post(
            &role_url,
            &[("csrf_token", &csrf), ("role", "READ_ONLY_USER")],
        )
        .await;
    assert_eq!(changed.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&changed), page_url);
    let page = b.get(&page_url).await.text().await.unwrap();
    assert!(
        page.contains("<option value=\"READ_ONLY_USER\" selected>")
            && page.contains("now has the role Read-only user"),
        "{page}"
    );
    // Its keys act with it, and the change is audited by the members' service.
    let info = app
        .graphql(Some(&sa_key), "{ auth_info { role } }", Value::Null, &[])
        .await;
    assert_eq!(info["data"]["auth_info"]["role"], "READ_ONLY_USER");
    let log = b.get("/t/acme/team/audit-log").await.text().await.unwrap();
    assert!(log.contains("deployer: Admin → Read-only user"), "{log}");
    // A person's id is not a service account here.
    let person = b
        .post(
            &format!("/t/acme/team/service-accounts/{admin_id}/role"),
            &[("csrf_token", &csrf), ("role", "USER")],
        )
        .await;
    assert_eq!(person.status(), StatusCode::NOT_FOUND);

    // A plain user sees no selector and is refused.
    app.create_person("user@example.com", &tenant, Role::User)
        .await;
    let u = Browser::new(&app);
    let csrf = u.sign_in("user@example.com").await;
    let refused = u
        .post(&role_url, &[("csrf_token", &csrf), ("role", "ADMIN")])
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let info = app
        .graphql(Some(&sa_key), "{ auth_info { role } }", Value::Null, &[])
        .await;
    assert_eq!(info["data"]["auth_info"]["role"], "READ_ONLY_USER");
}

async fn a_key_policy_limits_the_date_picker_and_a_refusal_names_the_last_day(backend: Backend) {
    let (app, tenant, _, _) = with_a_fourteen_day_policy(backend).await;
    let b = Browser::new(&app);
    b.sign_in(ADMIN).await;
    let form = b.get("/user/api-keys/new").await.text().await.unwrap();
    let today = app.clock.now().date();
    let last = today + time::Duration::days(14);
    assert!(
        form.contains("<option value=\"14\""),
        "a 14-day preset: {form}"
    );
    assert!(
        form.contains(&format!("max=\"{last}\"")),
        "the picker stops at the last allowed day: {form}"
    );
    let (csrf, nonce) = b.open_create_form().await;
    let too_late = (last + time::Duration::days(1)).to_string();
    let refused = b
        .post(
            "/user/api-keys",
            &[
                ("csrf_token", &csrf),
                ("nonce", &nonce),
                ("name", "late"),
                ("expiration", "date"),
                ("expires_on", &too_late),
                ("tenant_id", &tenant),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    let day = last
        .format(time::macros::format_description!(
            "[day padding:none] [month repr:short] [year]"
        ))
        .unwrap();
    assert!(
        html.contains(&format!("the last day you can pick is {day}")),
        "{html}"
    );
    // The date field itself is marked, so the dialog focuses it (issue 31 point 7).
    let input = &html[html.find("id=\"key-expires-on\"").unwrap()..];
    let input = &input[..input.find('>').unwrap()];
    assert!(input.contains("aria-invalid=\"true\""), "{input}");
    let (csrf, nonce) = b.open_create_form().await;
    let fourteen = b
        .post(
            "/user/api-keys",
            &[
                ("csrf_token", &csrf),
                ("nonce", &nonce),
                ("name", "fortnight"),
                ("expiration", "14"),
                ("tenant_id", &tenant),
            ],
        )
        .await;
    assert_eq!(fourteen.status(), StatusCode::OK);
}

/// The rotate dialog says when the new key expires and lets people pick, as GitHub's
/// Regenerate asks, within the tenant's key policy; GraphQL takes `expires_at` or
/// `never_expires` (issue 31 point 7).
async fn rotating_asks_when_the_new_key_expires_within_the_tenants_policy(backend: Backend) {
    let (app, _, admin, admin_key) = with_a_fourteen_day_policy(backend).await;
    let now = app.clock.now();
    let rfc = keyward::domain::clock::rfc3339;
    let created = app
        .graphql(
            Some(&admin_key),
            "mutation($i: create_api_key_input!) { create_api_key(input: $i) { id } }",
            json!({ "i": { "user_id": admin, "name": "laptop", "expires_at": rfc(now + time::Duration::days(7)) } }),
            &[],
        )
        .await;
    let key_id = created["data"]["create_api_key"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_string();

    // The dialog: the old lifetime again is the first choice and names its day; the
    // presets stop at the policy's 14 days, "Never" is not offered, the picker stops at
    // the last allowed day.
    let b = Browser::new(&app);
    let csrf = b.sign_in(ADMIN).await;
    let rotate_url = format!("/user/api-keys/{key_id}/rotate");
    let dialog = b.get_hx(&rotate_url).await.text().await.unwrap();
    let week = keyward::web::views::date(now + time::Duration::days(7));
    assert!(
        dialog.contains(&format!(
            "<option value=\"same\" selected>Same lifetime as this key: until {week}"
        )),
        "{dialog}"
    );
    assert!(dialog.contains("<option value=\"14\""), "{dialog}");
    assert!(!dialog.contains("<option value=\"30\""), "{dialog}");
    assert!(!dialog.contains("<option value=\"never\""), "{dialog}");
    let last = now.date() + time::Duration::days(14);
    assert!(dialog.contains(&format!("max=\"{last}\"")), "{dialog}");

    // A day past the policy is refused beside the field, in the dialog, and nothing is
    // rotated.
    let too_late = (last + time::Duration::days(1)).to_string();
    let refused = b
        .post_hx(
            &rotate_url,
            &[
                ("csrf_token", &csrf),
                ("overlap_hours", "1"),
                ("expiration", "date"),
                ("expires_on", &too_late),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(html.contains("the last day you can pick is"), "{html}");
    let input = &html[html.find("id=\"rotate-expires-on\"").unwrap()..];
    let input = &input[..input.find('>').unwrap()];
    assert!(input.contains("aria-invalid=\"true\""), "{input}");
    assert!(input.contains(&format!("value=\"{too_late}\"")), "{input}");
    let keys = "{ auth_api_key { id name expires_at rotated_to_key_id } }";
    let listed = app.gql(&admin_key, keys).await;
    let laptops: Vec<&Value> = listed["data"]["auth_api_key"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["name"] == "laptop")
        .collect();
    assert_eq!(laptops.len(), 1, "nothing rotated: {listed}");

    // 14 days is taken: the new key expires 14 × 24 h from now.
    let rotated = b
        .post_hx(
            &rotate_url,
            &[
                ("csrf_token", &csrf),
                ("overlap_hours", "1"),
                ("expiration", "14"),
                ("expires_on", ""),
            ],
        )
        .await;
    assert_eq!(rotated.status(), StatusCode::OK);
    let listed = app.gql(&admin_key, keys).await;
    let successor = listed["data"]["auth_api_key"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "laptop" && k["rotated_to_key_id"].is_null())
        .unwrap_or_else(|| panic!("{listed}"))
        .clone();
    let expires =
        keyward::domain::clock::parse_rfc3339_utc(successor["expires_at"].as_str().unwrap())
            .unwrap();
    assert!(
        expires >= now + time::Duration::days(14)
            && expires <= app.clock.now() + time::Duration::days(14),
        "{successor}"
    );

    // GraphQL: a chosen expiry beyond the policy is refused naming the last day; never
    // is refused under this policy; one within it is kept.
    let rotate =
        "mutation($i: rotate_api_key_input!) { rotate_api_key(input: $i) { id expires_at } }";
    let id = successor["id"].as_str().unwrap();
    let beyond = app
        .graphql(
            Some(&admin_key),
            rotate,
            json!({ "i": { "key_id": id, "overlap_hours": 0, "expires_at": rfc(now + time::Duration::days(30)) } }),
            &[],
        )
        .await;
    refused_saying(&beyond, "the last day you can pick is");
    let never = app
        .graphql(
            Some(&admin_key),
            rotate,
            json!({ "i": { "key_id": id, "overlap_hours": 0, "never_expires": true } }),
            &[],
        )
        .await;
    refused_saying(&never, "requires every key to expire");
    let three_days = rfc(now + time::Duration::days(3));
    let chosen = app
        .graphql(
            Some(&admin_key),
            rotate,
            json!({ "i": { "key_id": id, "overlap_hours": 0, "expires_at": three_days } }),
            &[],
        )
        .await;
    assert_eq!(
        chosen["data"]["rotate_api_key"]["expires_at"], three_days,
        "{chosen}"
    );
}

/// A key's description (what it is for, as GitHub's token note and GitLab's description):
/// optional, at most 200 characters (the refusal says so), set in the create dialog or
/// `create_api_key_input`, shown in the key list and `auth_api_key`, kept by a rotation
/// (issue 31 point 12).
async fn a_key_carries_what_it_is_for_from_the_dashboard_and_graphql(backend: Backend) {
    let (app, tenant, admin) = app_with_admin(backend).await;
    let (_, admin_key) = app.create_key(&admin, &tenant, None).await;
    let create = "mutation($i: create_api_key_input!) { create_api_key(input: $i) { id } }";
    let made = app
        .graphql(
            Some(&admin_key),
            create,
            json!({ "i": { "user_id": admin, "name": "ci", "description": "deploys staging from CI" } }),
            &[],
        )
        .await;
    assert!(made["errors"].is_null(), "{made}");
    let wordy = app
        .graphql(
            Some(&admin_key),
            create,
            json!({ "i": { "user_id": admin, "name": "wordy", "description": "x".repeat(201) } }),
            &[],
        )
        .await;
    refused_saying(&wordy, "at most 200 characters");

    let b = Browser::new(&app);
    b.sign_in(ADMIN).await;
    let (csrf, nonce) = b.open_create_form().await;
    let refused = b
        .post(
            "/user/api-keys",
            &[
                ("csrf_token", &csrf),
                ("nonce", &nonce),
                ("name", "laptop"),
                ("description", &"y".repeat(201)),
                ("expiration", "30"),
                ("tenant_id", &tenant),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(html.contains("id=\"key-description-error\""), "{html}");
    assert!(html.contains("at most 200 characters"), "{html}");
    let made = b
        .post(
            "/user/api-keys",
            &[
                ("csrf_token", &csrf),
                ("nonce", &nonce),
                ("name", "laptop"),
                ("description", "  my laptop's scripts  "),
                ("expiration", "30"),
                ("tenant_id", &tenant),
            ],
        )
        .await;
    assert_eq!(made.status(), StatusCode::OK);
    let list = b.get("/user/api-keys").await.text().await.unwrap();
    assert!(list.contains("deploys staging from CI"), "{list}");
    assert!(
        list.contains("my laptop&#x27;s scripts") || list.contains("my laptop&#39;s scripts"),
        "{list}"
    );

    let keys = app
        .gql(&admin_key, "{ auth_api_key { id name description } }")
        .await;
    let of = |name: &str| {
        keys["data"]["auth_api_key"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["name"] == name)
            .unwrap_or_else(|| panic!("{keys}"))
            .clone()
    };
    assert_eq!(of("laptop")["description"], "my laptop's scripts");
    assert_eq!(of("test key")["description"], Value::Null);
    let ci = of("ci");
    let rotated = app
        .graphql(
            Some(&admin_key),
            "mutation($i: rotate_api_key_input!) { rotate_api_key(input: $i) { id } }",
            json!({ "i": { "key_id": ci["id"], "overlap_hours": 0 } }),
            &[],
        )
        .await;
    let successor = rotated["data"]["rotate_api_key"]["id"].clone();
    let keys = app
        .gql(&admin_key, "{ auth_api_key { id description } }")
        .await;
    let new = keys["data"]["auth_api_key"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == successor)
        .unwrap_or_else(|| panic!("{keys}"))
        .clone();
    assert_eq!(
        new["description"], "deploys staging from CI",
        "a rotation keeps it"
    );
}
