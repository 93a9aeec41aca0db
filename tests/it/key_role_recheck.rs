//! Issue 17.9, second half: through an API key the role is decided inside the mutation's
//! transaction, not taken from the key's authentication. A caller authenticated while an
//! admin, then demoted or removed before its mutation runs, is refused.

use crate::backend_tests;
use crate::support::{Backend, TestApp};
use keyward::db::models::Account;
use keyward::domain::{AccountId, TenantId};
use keyward::domain::{PersonName, PlainToken, Role};
use keyward::error::AppError;
use keyward::services::{self, Actor};

backend_tests!(a_key_authenticated_before_its_member_is_demoted_or_removed_is_refused);

async fn a_key_authenticated_before_its_member_is_demoted_or_removed_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("acme").await;
    let boss = app
        .create_person("boss@example.com", &tenant.id, Role::Admin)
        .await;
    let ada = app
        .create_person("ada@example.com", &tenant.id, Role::Admin)
        .await;
    let (_, ada_key) = app.create_key(&ada.id, &tenant.id, None).await;
    let (t, ada) = (tenant.id.clone(), ada.id.clone());
    let (tenant_id, ada_id) = (TenantId::from_stored(&t), AccountId::from_stored(&ada));
    app.run(move |conn, now| {
        let bot = |name: &str| PersonName::parse(name);
        let boss = Actor::person(boss.id, None);
        let authenticated = |conn: &mut keyward::db::DbConnection| -> Result<Actor, AppError> {
            let token = PlainToken::parse(&ada_key)?;
            let principal = services::auth::authenticate(conn, now, &token, &[], None)?;
            assert_eq!(principal.role().ok(), Some(Role::Admin));
            Ok(Actor::api_key(principal, None))
        };

        // While an admin, the key's caller manages service accounts.
        let caller = authenticated(conn)?;
        services::service_accounts::create_service_account(
            conn,
            &caller,
            now,
            &TenantId::from_stored(&t),
            bot("one")?,
        )?;

        // Authenticated as an admin, demoted before the mutation: refused, nothing made.
        let caller = authenticated(conn)?;
        services::members::change_role(conn, &boss, now, &tenant_id, &ada_id, Role::User)?;
        let refused = services::service_accounts::create_service_account(
            conn,
            &caller,
            now,
            &TenantId::from_stored(&t),
            bot("two")?,
        );
        assert!(
            matches!(&refused, Err(AppError::Forbidden(m)) if m.contains("Admin role")),
            "{refused:?}"
        );
        let invited = services::invitations::create_invitation(
            conn,
            &caller,
            now,
            &TenantId::from_stored(&t),
            Role::Admin,
        );
        assert!(
            matches!(invited, Err(AppError::Forbidden(_))),
            "{invited:?}"
        );

        // Made an admin again, authenticated, then removed: refused as no longer a member.
        services::members::change_role(conn, &boss, now, &tenant_id, &ada_id, Role::Admin)?;
        let caller = authenticated(conn)?;
        services::members::remove_member(conn, &boss, now, &tenant_id, &ada_id)?;
        let refused = services::service_accounts::create_service_account(
            conn,
            &caller,
            now,
            &TenantId::from_stored(&t),
            bot("three")?,
        );
        assert!(
            matches!(&refused, Err(AppError::Forbidden(m)) if m.contains("no longer a member")),
            "{refused:?}"
        );

        assert_eq!(Account::count_service_accounts_of(conn, &t)?, 1);
        Ok(())
    })
    .await
    .expect("the scenario runs");
}
