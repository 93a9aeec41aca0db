//! Issue 17 point 8: nothing outside the caller's tenant exists for them. Every by-id
//! lookup of another tenant's object answers NOT_FOUND (GraphQL) or 404 (dashboard),
//! exactly like an id that exists nowhere.

use crate::backend_tests;
use crate::support::browser::Browser;
use crate::support::{Backend, TestApp};
use keyward::domain::{AccountId, Role};
use keyward::services::{self, Actor};
use serde_json::json;

backend_tests!(every_by_id_lookup_of_another_tenants_object_is_not_found_on_both_surfaces);

/// A dashboard form's fields.
type Form<'a> = Vec<(&'a str, &'a str)>;

/// Ids of globex's objects, and of nothing at all.
struct Foreign {
    service_account: String,
    member: String,
    key: String,
    service_account_key: String,
    invitation: String,
}

async fn foreign_objects(app: &TestApp) -> Foreign {
    let globex = app.create_tenant("globex").await;
    let eve = app
        .create_person("eve@example.com", &globex.id, Role::Admin)
        .await;
    let (key, _) = app.create_key(&eve.id, &globex.id, None).await;
    let robot = app.create_service_account(&globex.id, "globex robot").await;
    let (service_account_key, _) = app.create_key(&robot.id, &globex.id, None).await;
    let invitation = app
        .create_invitation(&eve.id, &globex.id, Role::User)
        .await
        .invitation
        .id;
    Foreign {
        service_account: robot.id,
        member: eve.id,
        key,
        service_account_key,
        invitation,
    }
}

async fn every_by_id_lookup_of_another_tenants_object_is_not_found_on_both_surfaces(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_tenant("acme").await;
    let ada = app
        .create_person("ada@example.com", &acme.id, Role::Admin)
        .await;
    let (_, ada_key) = app.create_key(&ada.id, &acme.id, None).await;
    let nowhere = uuid::Uuid::new_v4().to_string();
    let theirs = foreign_objects(&app).await;
    let unknown = Foreign {
        service_account: nowhere.clone(),
        member: nowhere.clone(),
        key: nowhere.clone(),
        service_account_key: nowhere.clone(),
        invitation: nowhere,
    };

    for (whose, ids) in [("another tenant's", &theirs), ("no one's", &unknown)] {
        let graphql: Vec<(&str, &str, serde_json::Value)> = vec![
            (
                "service_account",
                "query($id: UUID!) { service_account(id: $id) { id } }",
                json!({ "id": ids.service_account }),
            ),
            (
                "service_account.api_keys",
                "query($id: UUID!) { service_account(id: $id) { api_keys { id } } }",
                json!({ "id": ids.service_account }),
            ),
            (
                "rename_service_account",
                "mutation($i: rename_service_account_input!) { rename_service_account(input: $i) { id } }",
                json!({ "i": { "id": ids.service_account, "name": "mine now" } }),
            ),
            (
                "remove_service_account",
                "mutation($i: remove_service_account_input!) { remove_service_account(input: $i) { success } }",
                json!({ "i": { "id": ids.service_account } }),
            ),
            (
                "delete_api_key",
                "mutation($i: delete_api_key_input!) { delete_api_key(input: $i) { success } }",
                json!({ "i": { "key_id": ids.key } }),
            ),
            (
                "delete_api_key (service account's)",
                "mutation($i: delete_api_key_input!) { delete_api_key(input: $i) { success } }",
                json!({ "i": { "key_id": ids.service_account_key } }),
            ),
            (
                "revoke_invitation",
                "mutation($i: revoke_invitation_input!) { revoke_invitation(input: $i) { success } }",
                json!({ "i": { "id": ids.invitation } }),
            ),
            (
                "change_member_role",
                "mutation($i: change_member_role_input!) { change_member_role(input: $i) { user_id } }",
                json!({ "i": { "user_id": ids.member, "role": "READ_ONLY_USER" } }),
            ),
            (
                "remove_member",
                "mutation($i: remove_member_input!) { remove_member(input: $i) { success } }",
                json!({ "i": { "user_id": ids.member } }),
            ),
        ];
        for (what, query, variables) in graphql {
            let answer = app.graphql(Some(&ada_key), query, variables, &[]).await;
            assert_eq!(
                answer["errors"][0]["extensions"]["code"], "NOT_FOUND",
                "GraphQL {what} of {whose} object: {answer}"
            );
        }

        let browser = Browser::new(&app);
        let csrf = browser.sign_in("ada@example.com").await;
        let sa = format!("/t/acme/team/service-accounts/{}", ids.service_account);
        let dashboard: Vec<(&str, String, Form)> = vec![
            ("GET", sa.clone(), vec![]),
            ("GET", format!("{sa}/api-keys/new"), vec![]),
            ("POST", format!("{sa}/rename"), vec![("name", "mine now")]),
            ("GET", format!("{sa}/remove"), vec![]),
            ("POST", format!("{sa}/remove"), vec![]),
            (
                "POST",
                format!("{sa}/api-keys"),
                vec![("name", "k"), ("expiration", "never")],
            ),
            (
                "POST",
                format!("{sa}/api-keys/{}/delete", ids.service_account_key),
                vec![],
            ),
            ("POST", format!("/user/api-keys/{}/delete", ids.key), vec![]),
            (
                "POST",
                format!("/t/acme/team/members/{}/role", ids.member),
                vec![("role", "READ_ONLY_USER")],
            ),
            (
                "POST",
                format!("/t/acme/team/members/{}/remove", ids.member),
                vec![],
            ),
            (
                "POST",
                format!("/t/acme/team/invitations/{}/revoke", ids.invitation),
                vec![],
            ),
        ];
        for (method, path, mut form) in dashboard {
            let res = if method == "GET" {
                browser.get(&path).await
            } else {
                form.push(("csrf_token", &csrf));
                browser.post(&path, &form).await
            };
            assert_eq!(
                res.status(),
                404,
                "dashboard {method} {path} of {whose} object"
            );
        }
    }
    let robot = theirs.service_account.clone();
    let still_there = app
        .run(move |conn, _| {
            services::service_accounts::get_service_account(
                conn,
                &Actor::operator(),
                None,
                &AccountId::from_stored(&robot),
            )
        })
        .await;
    assert!(still_there.is_ok(), "nothing of globex's was touched");
}
