//! Team rules below the pages: invitations, member removal, and the audit log's paging
//! and contents. (The pages' own tests sit beside them, in the dashboard's modules.)

use crate::backend_tests;
use crate::support::browser::Browser;
use crate::support::{Backend, TestApp};
use keyward::domain::{ApiKeyId, InvitationId, TenantId};
use keyward::domain::{Email, Password, PersonName, Role};
use keyward::error::AppError;
use keyward::services::{self, invitations::NewPerson, Actor};
use time::Duration;

backend_tests!(
    an_invitation_works_once_for_its_own_tenant_within_24_hours,
    someone_without_an_account_joins_through_an_invitation,
    the_audit_log_pages_through_a_thousand_events_newest_first,
    every_team_action_is_audited_with_its_actor_key_and_ip,
    an_event_through_a_key_deleted_since_still_names_the_key,
);

async fn an_invitation_works_once_for_its_own_tenant_within_24_hours(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_tenant("acme").await.id;
    let other = app.create_tenant("other").await.id;
    let admin = app
        .create_person("admin@example.com", &acme, Role::Admin)
        .await
        .id;
    let bob = app
        .create_person("bob@example.com", &other, Role::User)
        .await
        .id;
    let carol = app
        .create_person("carol@example.com", &other, Role::User)
        .await
        .id;
    let dave = app
        .create_person("dave@example.com", &other, Role::User)
        .await
        .id;

    let (a, t) = (admin.clone(), acme.clone());
    let invite = move |role| {
        let (a, t) = (a.clone(), t.clone());
        move |conn: &mut keyward::db::DbConnection, now| {
            services::invitations::create_invitation(
                conn,
                &Actor::person(a, None),
                now,
                &TenantId::from_stored(&t),
                role,
            )
            .map(|c| c.token)
        }
    };
    let accept = |who: &str, tenant: &str, token: &str| {
        let (who, tenant, token) = (who.to_string(), tenant.to_string(), token.to_string());
        move |conn: &mut keyward::db::DbConnection, now| {
            services::invitations::accept_invitation(
                conn,
                &Actor::person(who, None),
                now,
                &TenantId::from_stored(&tenant),
                &token,
            )
        }
    };

    let token = app.run(invite(Role::ReadOnlyUser)).await.unwrap();
    // For another tenant's URL: refused, and not used up.
    let wrong_tenant = app.run(accept(&bob, &other, &token)).await;
    assert!(
        matches!(wrong_tenant, Err(AppError::NotFound(ref m)) if m.contains("not valid for this tenant")),
        "{wrong_tenant:?}"
    );
    let joined = app.run(accept(&bob, &acme, &token)).await.unwrap();
    assert_eq!(joined.role, "READ_ONLY_USER");
    let twice = app.run(accept(&carol, &acme, &token)).await;
    assert!(
        matches!(twice, Err(AppError::Conflict(ref m)) if m.contains("already been used")),
        "{twice:?}"
    );

    let late = app.run(invite(Role::User)).await.unwrap();
    app.clock
        .advance(Duration::hours(24) + Duration::seconds(1));
    let expired = app.run(accept(&dave, &acme, &late)).await;
    assert!(
        matches!(expired, Err(AppError::Conflict(ref m)) if m.contains("expired")),
        "{expired:?}"
    );
    let through_key = {
        let (_, key) = app.create_key(&dave, &other, None).await;
        let token = app.run(invite(Role::User)).await.unwrap();
        let acme = acme.clone();
        app.run(move |conn, now| {
            let principal = services::auth::authenticate(
                conn,
                now,
                &keyward::domain::PlainToken::parse(&key)?,
                &[],
                None,
            )?;
            services::invitations::accept_invitation(
                conn,
                &Actor::api_key(principal, None),
                now,
                &TenantId::from_stored(&acme),
                &token,
            )
        })
        .await
    };
    assert!(
        matches!(through_key, Err(AppError::Forbidden(_))),
        "joining is for a signed-in person: {through_key:?}"
    );
    let members = app
        .run(move |conn, _| {
            services::members::list_members(
                conn,
                &Actor::person(admin, None),
                &TenantId::from_stored(&acme),
            )
        })
        .await
        .unwrap();
    let mut emails: Vec<String> = members
        .iter()
        .filter_map(|m| m.account.email.clone())
        .collect();
    emails.sort();
    assert_eq!(emails, ["admin@example.com", "bob@example.com"]);
}

async fn someone_without_an_account_joins_through_an_invitation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_tenant("acme").await.id;
    let admin = app
        .create_person("admin@example.com", &acme, Role::Admin)
        .await
        .id;
    let token = app.create_invitation(&admin, &acme, Role::User).await.token;
    let new_person = |email: &str| NewPerson {
        email: Email::parse(email).unwrap(),
        name: PersonName::parse("Newcomer").unwrap(),
        password: keyward::services::passwords::HashedPassword::of(
            &Password::parse_new("a long enough password").unwrap(),
        )
        .unwrap(),
    };
    let acme_id = TenantId::from_stored(&acme);
    let join = |email: &str| {
        let (t, tok, p) = (acme_id.clone(), token.clone(), new_person(email));
        app.run(move |conn, now| {
            services::invitations::accept_invitation_as_new_person(conn, None, now, &t, &tok, p)
        })
    };
    let (account, membership) = join("new@example.com").await.unwrap();
    assert_eq!(
        (account.email.as_deref(), membership.role.as_str()),
        (Some("new@example.com"), "USER")
    );
    // The link is used up: a second newcomer gets no account either.
    let again = join("second@example.com").await;
    assert!(matches!(again, Err(AppError::Conflict(_))), "{again:?}");
    let exists = app
        .run(|conn, _| {
            Ok(keyward::db::models::Account::find_by_email(conn, "second@example.com")?.is_some())
        })
        .await
        .unwrap();
    assert!(!exists, "a refused invitation creates no account");
}

async fn the_audit_log_pages_through_a_thousand_events_newest_first(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_tenant("acme").await.id;
    let admin = app
        .create_person("admin@example.com", &acme, Role::Admin)
        .await
        .id;
    let (a, t) = (admin.clone(), acme.clone());
    let clock = app.clock.clone();
    app.run(move |conn, _| {
        let actor = Actor::person(a, Some("192.0.2.7".into()));
        for i in 0..1000 {
            clock.advance(Duration::milliseconds(1));
            services::service_accounts::create_service_account(
                conn,
                &actor,
                clock.now(),
                &TenantId::from_stored(&t),
                PersonName::parse(&format!("robot {i:04}"))?,
            )?;
        }
        Ok(())
    })
    .await
    .unwrap();
    let mut seen = Vec::new();
    let mut page = 1;
    loop {
        let (a, t) = (admin.clone(), acme.clone());
        let p = app
            .run(move |conn, _| {
                services::audit::list_audit_events(
                    conn,
                    &Actor::person(a, None),
                    &TenantId::from_stored(&t),
                    Some("service_account.created"),
                    page,
                    50,
                )
            })
            .await
            .unwrap();
        assert_eq!(p.total, 1000);
        assert_eq!(p.pages(), 20);
        if p.events.is_empty() {
            break;
        }
        seen.extend(p.events.into_iter().map(|e| e.event));
        page += 1;
    }
    assert_eq!(page, 21, "20 full pages, then an empty one");
    assert_eq!(seen.len(), 1000);
    let mut ids: Vec<&str> = seen.iter().map(|e| e.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 1000, "no event twice, none missing");
    assert!(seen.windows(2).all(|w| w[0].at >= w[1].at), "newest first");
    assert!(seen[0].detail.contains("robot 0999") && seen[999].detail.contains("robot 0000"));
    assert!(seen.iter().all(|e| e.ip.as_deref() == Some("192.0.2.7")));
}

async fn every_team_action_is_audited_with_its_actor_key_and_ip(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_tenant("acme").await.id;
    let admin = app
        .create_person("admin@example.com", &acme, Role::Admin)
        .await
        .id;
    let sa = app.create_service_account(&acme, "deployer").await.id;
    let (sa_key_id, sa_key) = app.create_key(&sa, &acme, None).await;
    let (a, t) = (admin.clone(), TenantId::from_stored(&acme));
    app.run(move |conn, now| {
        let person = Actor::person(a.clone(), Some("198.51.100.1".into()));
        let principal = services::auth::authenticate(
            conn,
            now,
            &keyward::domain::PlainToken::parse(&sa_key)?,
            &[],
            None,
        )?;
        let robot = Actor::api_key(principal, Some("198.51.100.2".into()));
        let sa2 = services::service_accounts::create_service_account(
            conn,
            &robot,
            now,
            &t,
            PersonName::parse("made by a robot")?,
        )?;
        services::service_accounts::rename_service_account(
            conn,
            &person,
            now,
            None,
            &sa2.account_id(),
            PersonName::parse("renamed")?,
        )?;
        let key = services::api_keys::create_api_key(
            conn,
            &robot,
            now,
            services::api_keys::NewApiKey {
                account_id: sa2.account_id(),
                tenant_id: None,
                name: keyward::domain::KeyName::parse("k")?,
                expires_at: None,
                read_only: false,
                allowed_ips: Default::default(),
                description: Default::default(),
            },
            ApiKeyId::generate(),
            &keyward::domain::Quotas::default(),
        )?;
        services::api_keys::revoke_api_key(conn, &person, now, &key.key.key_id())?;
        let inv = services::invitations::create_invitation(conn, &person, now, &t, Role::User)?;
        services::invitations::revoke_invitation(
            conn,
            &person,
            now,
            &t,
            &InvitationId::from_stored(&inv.invitation.id),
        )?;
        let bob = services::accounts::create_user(
            conn,
            &Actor::operator(),
            now,
            keyward::domain::Email::parse("bob@example.com")?,
            PersonName::parse("Bob")?,
            keyward::services::passwords::HashedPassword::of(&Password::parse_new(
                "bob's password",
            )?)?,
        )?;
        let inv = services::invitations::create_invitation(conn, &person, now, &t, Role::User)?;
        services::invitations::accept_invitation(
            conn,
            &Actor::person(bob.id.clone(), Some("198.51.100.3".into())),
            now,
            &t,
            &inv.token,
        )?;
        services::members::change_role(
            conn,
            &person,
            now,
            &t,
            &bob.account_id(),
            Role::ReadOnlyUser,
        )?;
        services::members::remove_member(conn, &person, now, &t, &bob.account_id())?;
        services::service_accounts::remove_service_account(
            conn,
            &person,
            now,
            None,
            &sa2.account_id(),
        )?;
        Ok(())
    })
    .await
    .unwrap();
    let page = app
        .run(move |conn, _| {
            services::audit::list_audit_events(
                conn,
                &Actor::person(admin, None),
                &TenantId::from_stored(&acme),
                None,
                1,
                100,
            )
        })
        .await
        .unwrap();
    let has = |action: &str, ip: &str, actor: &str| {
        page.events.iter().any(|e| {
            e.event.action == action
                && e.event.ip.as_deref() == Some(ip)
                && e.actor_name.as_deref() == Some(actor)
        })
    };
    assert!(has("service_account.created", "198.51.100.2", "deployer"));
    let by_robot = page
        .events
        .iter()
        .find(|e| {
            e.event.action == "service_account.created"
                && e.actor_name.as_deref() == Some("deployer")
        })
        .unwrap();
    assert_eq!(
        by_robot.event.actor_key_id.as_deref(),
        Some(sa_key_id.as_str()),
        "through which key"
    );
    assert_eq!(by_robot.key_name.as_deref(), Some("test key"));
    assert!(has("api_key.created", "198.51.100.2", "deployer"));
    for action in [
        "service_account.renamed",
        "api_key.revoked",
        "invitation.created",
        "invitation.revoked",
        "member.role_changed",
        "member.removed",
        "service_account.removed",
    ] {
        assert!(
            has(action, "198.51.100.1", "admin at example.com"),
            "{action} by the admin from its IP"
        );
    }
    assert!(
        has("invitation.accepted", "198.51.100.3", "Bob"),
        "joining is audited as the person who joined"
    );
}

/// The audit log keeps the name of the key an action came through, as it was then: once
/// the key is deleted, the log says "through key “deploy” (deleted)", not a bare id
/// (issue 31 point 11).
async fn an_event_through_a_key_deleted_since_still_names_the_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_tenant("acme").await.id;
    let ada = app
        .create_person("ada@example.com", &acme, Role::Admin)
        .await
        .id;
    let (_, ada_key) = app.create_key(&ada, &acme, None).await;
    let robot = app.create_service_account(&acme, "deployer").await.id;
    let (robot_key_id, robot_key) = app.create_key(&robot, &acme, None).await;
    let made = app
        .gql(
            &robot_key,
            r#"mutation { create_service_account(input: { name: "made by the robot" }) { id } }"#,
        )
        .await;
    assert!(made["errors"].is_null(), "{made}");
    let revoked = app
        .gql(
            &ada_key,
            &format!(r#"mutation {{ delete_api_key(input: {{ key_id: "{robot_key_id}" }}) {{ success }} }}"#),
        )
        .await;
    assert_eq!(
        revoked["data"]["delete_api_key"]["success"], true,
        "{revoked}"
    );

    let log = app
        .gql(
            &ada_key,
            r#"{ audit_events(action: "service_account.created") { events { actor_key_id actor_key_name actor_key_deleted } } }"#,
        )
        .await;
    let event = &log["data"]["audit_events"]["events"][0];
    assert_eq!(event["actor_key_id"], robot_key_id.as_str(), "{log}");
    assert_eq!(event["actor_key_name"], "test key", "{log}");
    assert_eq!(event["actor_key_deleted"], true, "{log}");

    let browser = Browser::new(&app);
    browser.sign_in("ada@example.com").await;
    let page = browser
        .text("/t/acme/team/audit-log?action=service_account.created")
        .await;
    assert!(page.contains("“test key” (deleted)"), "{page}");
    assert!(
        !page.contains(&format!("{robot_key_id} (deleted)")),
        "{page}"
    );
}
