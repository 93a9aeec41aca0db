//! Issue 17 point 5: an invitation link has no more power than its creator. It is refused
//! once they are no longer a human admin of the tenant, their pending links are revoked
//! when they are demoted or removed, and pending links say who made them.

use crate::backend_tests;
use crate::support::browser::Browser;
use crate::support::{Backend, Seeded, TestApp};
use keyward::domain::Role;
use keyward::domain::{AccountId, TenantId};
use keyward::services::{self, Actor};
use serde_json::json;

backend_tests!(
    a_link_is_refused_once_its_creator_is_no_longer_an_admin_and_their_links_are_revoked,
    a_removed_admin_cannot_rejoin_through_their_own_link,
    pending_invitations_say_who_made_them_on_both_surfaces,
);

struct Team {
    app: TestApp,
    acme: Seeded,
    ada: Seeded,
    root: Seeded,
}

async fn team(backend: Backend) -> Team {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_tenant("acme").await;
    let ada = app
        .create_person("ada@example.com", &acme.id, Role::Admin)
        .await;
    let root = app
        .create_person("root@example.com", &acme.id, Role::Admin)
        .await;
    Team {
        app,
        acme,
        ada,
        root,
    }
}

/// A link made by `creator`; returns its path.
async fn link_by(t: &Team, creator: &str, role: Role) -> String {
    let created = t.app.create_invitation(creator, &t.acme.id, role).await;
    format!("/t/acme/join/{}", created.token)
}

async fn pending_count(t: &Team) -> usize {
    let (root, tenant) = (t.root.id.clone(), t.acme.id.clone());
    t.app
        .run(move |conn, now| {
            services::invitations::list_pending_invitations(
                conn,
                &Actor::person(root, None),
                now,
                &TenantId::from_stored(&tenant),
            )
        })
        .await
        .unwrap()
        .len()
}

async fn by_root(
    t: &Team,
    act: impl FnOnce(
            &mut keyward::db::DbConnection,
            time::PrimitiveDateTime,
            &Actor,
            &str,
            &str,
        ) -> Result<(), keyward::error::AppError>
        + Send
        + 'static,
) {
    let (root, tenant, ada) = (t.root.id.clone(), t.acme.id.clone(), t.ada.id.clone());
    t.app
        .run(move |conn, now| act(conn, now, &Actor::person(root, None), &tenant, &ada))
        .await
        .unwrap();
}

async fn a_link_is_refused_once_its_creator_is_no_longer_an_admin_and_their_links_are_revoked(
    backend: Backend,
) {
    let t = team(backend).await;
    let joiner = t
        .app
        .create_person(
            "bob@example.com",
            &t.app.create_tenant("other").await.id,
            Role::User,
        )
        .await;
    let bob = Browser::new(&t.app);
    bob.sign_in(&joiner.name).await;

    // Demoted behind the services' back (a row changed by hand): the link stays but is
    // refused at acceptance.
    let link = link_by(&t, &t.ada.id, Role::Admin).await;
    assert_eq!(
        bob.get(&link).await.status(),
        200,
        "usable while Ada is an admin"
    );
    t.app
        .sql(&format!(
            "UPDATE memberships SET role = 'READ_ONLY_USER' WHERE account_id = '{}'",
            t.ada.id
        ))
        .await;
    for res in [bob.get(&link).await, {
        let csrf = bob.csrf_token().await;
        bob.post(&link, &[("csrf_token", csrf.as_str())]).await
    }] {
        assert_eq!(res.status(), 409);
        let html = res.text().await.unwrap();
        assert!(html.contains("no longer an admin of this tenant"), "{html}");
    }
    t.app
        .sql(&format!(
            "UPDATE memberships SET role = 'ADMIN' WHERE account_id = '{}'",
            t.ada.id
        ))
        .await;

    // Demoted through the service: Ada's links are revoked at once, each audited.
    link_by(&t, &t.ada.id, Role::User).await;
    link_by(&t, &t.root.id, Role::User).await;
    assert_eq!(pending_count(&t).await, 3);
    by_root(&t, |conn, now, root, tenant, ada| {
        services::members::change_role(
            conn,
            root,
            now,
            &TenantId::from_stored(tenant),
            &AccountId::from_stored(ada),
            Role::User,
        )
        .map(drop)
    })
    .await;
    assert_eq!(pending_count(&t).await, 1, "only Root's link is left");
    let csrf = bob.csrf_token().await;
    assert_eq!(
        bob.post(&link, &[("csrf_token", csrf.as_str())])
            .await
            .status(),
        404,
        "the revoked link is gone"
    );
    let (root, tenant) = (t.root.id.clone(), t.acme.id.clone());
    let revoked = t
        .app
        .run(move |conn, _| {
            services::audit::list_audit_events(
                conn,
                &Actor::person(root, None),
                &TenantId::from_stored(&tenant),
                Some("invitation.revoked"),
                1,
                50,
            )
        })
        .await
        .unwrap();
    assert_eq!(revoked.total, 2);
    assert!(revoked.events[0]
        .event
        .detail
        .contains("no longer an admin"));
}

async fn a_removed_admin_cannot_rejoin_through_their_own_link(backend: Backend) {
    let t = team(backend).await;
    let link = link_by(&t, &t.ada.id, Role::Admin).await;
    let ada = Browser::new(&t.app);
    ada.sign_in(&t.ada.name).await;
    by_root(&t, |conn, now, root, tenant, ada| {
        services::members::remove_member(
            conn,
            root,
            now,
            &TenantId::from_stored(tenant),
            &AccountId::from_stored(ada),
        )
        .map(drop)
    })
    .await;
    assert_eq!(
        pending_count(&t).await,
        0,
        "a removed admin's links are gone"
    );
    let csrf = ada.csrf_token().await;
    let res = ada.post(&link, &[("csrf_token", csrf.as_str())]).await;
    assert_eq!(res.status(), 404);
    let (ada_id, tenant) = (t.ada.id.clone(), t.acme.id.clone());
    let member = t
        .app
        .run(move |conn, _| {
            Ok(keyward::db::models::Membership::find(
                conn, &ada_id, &tenant,
            )?)
        })
        .await
        .unwrap();
    assert!(member.is_none(), "Ada did not rejoin");
}

async fn pending_invitations_say_who_made_them_on_both_surfaces(backend: Backend) {
    let t = team(backend).await;
    link_by(&t, &t.ada.id, Role::User).await;
    let (_, key) = t.app.create_key(&t.root.id, &t.acme.id, None).await;
    let answer = t
        .app
        .graphql(
            Some(&key),
            "{ invitations { created_by created_by_name } }",
            json!({}),
            &[],
        )
        .await;
    assert_eq!(
        answer["data"]["invitations"],
        json!([{ "created_by": t.ada.id, "created_by_name": "ada at example.com" }]),
        "{answer}"
    );
    let root = Browser::new(&t.app);
    root.sign_in(&t.root.name).await;
    let html = root.get("/t/acme/team/members").await.text().await.unwrap();
    assert!(
        html.contains("<td data-created-by>ada at example.com</td>"),
        "{html}"
    );
}
