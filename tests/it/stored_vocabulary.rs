//! Roles and audit actions are enums stored as their text (issue 24). A stored value this
//! version does not know (written by a newer version during a rolling upgrade) never
//! becomes a 500: an unknown role is refused like a missing permission, an unknown audit
//! action reads as "other".

use crate::backend_tests;
use crate::support::browser::Browser;
use crate::support::{Backend, TestApp};
use keyward::domain::Role;

backend_tests!(
    a_role_this_version_does_not_know_is_refused_like_a_missing_permission,
    an_audit_action_this_version_does_not_know_reads_as_other,
);

async fn a_role_this_version_does_not_know_is_refused_like_a_missing_permission(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_tenant("acme").await.id;
    let boss = app
        .create_person("boss@example.com", &acme, Role::Admin)
        .await;
    let pat = app
        .create_person("pat@example.com", &acme, Role::Admin)
        .await;
    let (_, pat_key) = app.create_key(&pat.id, &acme, None).await;
    let (_, boss_key) = app.create_key(&boss.id, &acme, None).await;
    // A newer version widens the table's CHECK in its migration, then stores its role.
    let update = format!(
        "UPDATE memberships SET role = 'OWNER' WHERE account_id = '{}';",
        pat.id
    );
    app.sql(&match backend {
        Backend::Sqlite => format!(
            "PRAGMA ignore_check_constraints = ON; {update} PRAGMA ignore_check_constraints = OFF;"
        ),
        Backend::Postgres => {
            format!("ALTER TABLE memberships DROP CONSTRAINT memberships_role_check; {update}")
        }
    })
    .await;

    // Through a key: refused with FORBIDDEN, not taken for some lower role.
    let whoami = app.get_with_key("/api/whoami", &pat_key).await;
    assert_eq!(whoami.status(), 403);
    let answer = app
        .graphql(
            Some(&pat_key),
            "{ auth_info { role } }",
            serde_json::json!({}),
            &[],
        )
        .await;
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{answer}"
    );
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("does not know")),
        "the refusal says why: {answer}"
    );

    // Signed in: the admin pages of the tenant answer 403, as to a member without the
    // permission.
    let browser = Browser::new(&app);
    browser.sign_in("pat@example.com").await;
    for page in ["/t/acme/team/members", "/t/acme/team/audit-log"] {
        assert_eq!(browser.get(page).await.status(), 403, "{page}");
    }

    // Another admin still sees the member listed, and can set a known role again.
    let members = app
        .graphql(
            Some(&boss_key),
            "{ members { user_id role } }",
            serde_json::json!({}),
            &[],
        )
        .await;
    assert!(members["errors"].is_null(), "{members}");
    let admin = Browser::new(&app);
    admin.sign_in("boss@example.com").await;
    let page = admin.get("/t/acme/team/members").await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("pat@example.com"));
    let changed = app
        .graphql(
            Some(&boss_key),
            "mutation($i: change_member_role_input!) { change_member_role(input: $i) { role } }",
            serde_json::json!({ "i": { "tenant_id": acme, "user_id": pat.id, "role": "USER" } }),
            &[],
        )
        .await;
    assert_eq!(
        changed["data"]["change_member_role"]["role"], "USER",
        "{changed}"
    );
    assert_eq!(
        app.get_with_key("/api/whoami", &pat_key).await.status(),
        200
    );
}

async fn an_audit_action_this_version_does_not_know_reads_as_other(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_tenant("acme").await.id;
    let boss = app
        .create_person("boss@example.com", &acme, Role::Admin)
        .await;
    let (_, boss_key) = app.create_key(&boss.id, &acme, None).await;
    app.sql(&format!(
        "INSERT INTO audit_events (id, tenant_id, actor_id, actor_key_id, action, target_id, detail, ip, at) \
         VALUES ('{}', '{acme}', NULL, NULL, 'api_key.teleported', NULL, 'from a newer version', NULL, '2026-01-01 00:00:00')",
        uuid::Uuid::new_v4()
    ))
    .await;

    let admin = Browser::new(&app);
    admin.sign_in("boss@example.com").await;
    let page = admin.get("/t/acme/team/audit-log").await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("<tr data-action=\"other\">"), "{page}");
    assert!(page.contains("from a newer version"));

    let log = app
        .graphql(
            Some(&boss_key),
            "{ audit_events(per_page: 500) { events { action detail } } }",
            serde_json::json!({}),
            &[],
        )
        .await;
    assert!(log["errors"].is_null(), "{log}");
    let events = log["data"]["audit_events"]["events"].as_array().unwrap();
    let newer = events
        .iter()
        .find(|e| e["detail"] == "from a newer version")
        .expect("the row is listed");
    assert_eq!(newer["action"], "other");
}
