//! The permission matrix of DESIGN §2, walked row by row for every kind of caller. People
//! act both as a dashboard session would (`Actor::person`) and through their own API key
//! (a `Principal` from the real auth pipeline); a service account acts through its key.
//! Anonymous callers have no actor at all: the HTTP surfaces refuse them before any
//! service runs (see `anonymous_requests_are_refused_before_any_service_runs`).

use crate::backend_tests;
use crate::support::{Backend, TestApp};
use keyward::db::DbConnection;
use keyward::domain::{AccountId, ApiKeyId, TenantId};
use keyward::domain::{
    Email, KeyName, Password, PersonName, PlainToken, Role, TenantName, TenantSlug,
};
use keyward::error::AppError;
use keyward::services::{self, api_keys::NewApiKey, Actor};
use time::PrimitiveDateTime;

backend_tests!(
    every_row_of_the_permission_matrix_holds_for_every_kind_of_caller,
    anonymous_requests_are_refused_before_any_service_runs,
    the_last_human_admin_can_be_neither_removed_nor_demoted,
    a_key_sees_and_revokes_only_its_own_tenants_keys_of_a_person_in_two_tenants,
    a_service_account_below_admin_may_still_create_its_own_keys,
    concurrent_writes_all_succeed_and_two_admins_demoting_each_other_leave_one,
);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Admin,
    User,
    ReadOnly,
    ServiceAccount,
    Outsider,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Session,
    Key,
}

struct Caller {
    who: Who,
    via: Via,
    account_id: String,
    key: String,
}

struct World {
    tenant: String,
    admin: String,
    user: String,
    sa: String,
    callers: Vec<Caller>,
}

impl World {
    fn tenant_id(&self) -> TenantId {
        TenantId::from_stored(&self.tenant)
    }

    fn sa_id(&self) -> AccountId {
        AccountId::from_stored(&self.sa)
    }
}

async fn world(app: &TestApp) -> World {
    let tenant = app.create_tenant("acme").await.id;
    let other = app.create_tenant("other").await.id;
    let admin = app
        .create_person("admin@example.com", &tenant, Role::Admin)
        .await
        .id;
    let user = app
        .create_person("user@example.com", &tenant, Role::User)
        .await
        .id;
    let ro = app
        .create_person("ro@example.com", &tenant, Role::ReadOnlyUser)
        .await
        .id;
    let outsider = app
        .create_person("out@example.com", &other, Role::Admin)
        .await
        .id;
    let sa = app.create_service_account(&tenant, "deployer").await.id;
    let mut callers = Vec::new();
    for (who, id, home) in [
        (Who::Admin, &admin, &tenant),
        (Who::User, &user, &tenant),
        (Who::ReadOnly, &ro, &tenant),
        (Who::ServiceAccount, &sa, &tenant),
        (Who::Outsider, &outsider, &other),
    ] {
        let (_, key) = app.create_key(id, home, None).await;
        for via in [Via::Session, Via::Key] {
            if who == Who::ServiceAccount && via == Via::Session {
                continue; // service accounts cannot sign in
            }
            callers.push(Caller {
                who,
                via,
                account_id: id.clone(),
                key: key.clone(),
            });
        }
    }
    World {
        tenant,
        admin,
        user,
        sa,
        callers,
    }
}

fn actor_of(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    c: &Caller,
) -> Result<Actor, AppError> {
    Ok(match c.via {
        Via::Session => Actor::person(c.account_id.clone(), Some("127.0.0.1".into())),
        Via::Key => {
            let token = PlainToken::parse(&c.key)?;
            Actor::api_key(
                services::auth::authenticate(conn, now, &token, &[], None)?,
                Some("127.0.0.1".into()),
            )
        }
    })
}

fn operator_key(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    account_id: &str,
    tenant: &str,
) -> Result<String, AppError> {
    Ok(services::api_keys::create_api_key(
        conn,
        &Actor::operator(),
        now,
        NewApiKey {
            account_id: AccountId::from_stored(account_id),
            tenant_id: Some(TenantId::from_stored(tenant)),
            name: KeyName::parse(&format!("target {}", uuid::Uuid::new_v4().simple()))?,
            expires_at: None,
            read_only: false,
            allowed_ips: Default::default(),
            description: Default::default(),
        },
        ApiKeyId::generate(),
        &keyward::domain::Quotas::default(),
    )?
    .key
    .id)
}

fn throwaway_person(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    tenant: &str,
    role: Role,
) -> Result<AccountId, AppError> {
    let op = Actor::operator();
    let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
    let account = services::accounts::create_user(
        conn,
        &op,
        now,
        Email::parse(&email)?,
        PersonName::parse(&format!("Throwaway {}", uuid::Uuid::new_v4().simple()))?,
        keyward::services::passwords::HashedPassword::of(&Password::parse_new(
            "throwaway password",
        )?)?,
    )?;
    services::members::add_member(
        conn,
        &op,
        now,
        &TenantId::from_stored(tenant),
        &account.account_id(),
        role,
    )?;
    Ok(account.account_id())
}

fn throwaway_sa(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    tenant: &str,
) -> Result<String, AppError> {
    Ok(services::service_accounts::create_service_account(
        conn,
        &Actor::operator(),
        now,
        &TenantId::from_stored(tenant),
        PersonName::parse(&format!("throwaway {}", uuid::Uuid::new_v4().simple()))?,
    )?
    .id)
}

type Row = (
    &'static str,
    fn(Who) -> bool,
    fn(&mut DbConnection, PrimitiveDateTime, &Actor, &World) -> Result<(), AppError>,
);

fn admins(w: Who) -> bool {
    matches!(w, Who::Admin | Who::ServiceAccount)
}
fn members(w: Who) -> bool {
    w != Who::Outsider
}
fn human_admins(w: Who) -> bool {
    w == Who::Admin
}
fn nobody(_: Who) -> bool {
    false
}
fn people(w: Who) -> bool {
    w != Who::ServiceAccount
}

fn rows() -> Vec<Row> {
    vec![
        (
            "create a key for yourself in T",
            members,
            |conn, now, actor, w| {
                services::api_keys::create_api_key(
                    conn,
                    actor,
                    now,
                    NewApiKey {
                        account_id: actor.account_id().unwrap().clone(),
                        tenant_id: Some(w.tenant_id()),
                        name: KeyName::parse(&format!("mine {}", uuid::Uuid::new_v4().simple()))?,
                        expires_at: None,
                        read_only: false,
                        allowed_ips: Default::default(),
                        description: Default::default(),
                    },
                    ApiKeyId::generate(),
                    &keyward::domain::Quotas::default(),
                )
                .map(drop)
            },
        ),
        (
            "create a key for a service account of T",
            admins,
            |conn, now, actor, w| {
                let sa = throwaway_sa(conn, now, &w.tenant)?;
                services::api_keys::create_api_key(
                    conn,
                    actor,
                    now,
                    NewApiKey {
                        account_id: AccountId::from_stored(sa),
                        tenant_id: None,
                        name: KeyName::parse("for the robot")?,
                        expires_at: None,
                        read_only: false,
                        allowed_ips: Default::default(),
                        description: Default::default(),
                    },
                    ApiKeyId::generate(),
                    &keyward::domain::Quotas::default(),
                )
                .map(drop)
            },
        ),
        (
            "create a key for another person",
            nobody,
            |conn, now, actor, w| {
                let target = if actor.is(&w.user) {
                    w.admin.clone()
                } else {
                    w.user.clone()
                };
                services::api_keys::create_api_key(
                    conn,
                    actor,
                    now,
                    NewApiKey {
                        account_id: AccountId::from_stored(target),
                        tenant_id: Some(w.tenant_id()),
                        name: KeyName::parse("not yours")?,
                        expires_at: None,
                        read_only: false,
                        allowed_ips: Default::default(),
                        description: Default::default(),
                    },
                    ApiKeyId::generate(),
                    &keyward::domain::Quotas::default(),
                )
                .map(drop)
            },
        ),
        (
            "list your own keys (all tenants)",
            |_| true,
            |conn, _, actor, _| {
                let keys = services::key_lists::own_api_keys_page(
                    conn,
                    actor,
                    &keyward::db::models::api_key_list::KeyWhere::default(),
                    &keyward::db::models::api_key_list::KeyPage::OlderThan {
                        limit: 1_000,
                        cursor: None,
                    },
                )
                .map(|k| k.page.rows)?;
                assert!(
                    !keys.is_empty() && keys.iter().all(|k| actor.is(&k.account.id)),
                    "only and all of your own keys"
                );
                Ok(())
            },
        ),
        (
            "list keys of T's service accounts",
            admins,
            |conn, _, actor, w| {
                services::key_lists::service_account_keys(
                    conn,
                    actor,
                    &w.sa_id(),
                    &keyward::db::models::api_key_list::KeyWhere::default(),
                    &keyward::db::models::api_key_list::KeyPage::OlderThan {
                        limit: 1_000,
                        cursor: None,
                    },
                )
                .map(drop)
            },
        ),
        (
            "revoke your own key",
            |_| true,
            |conn, now, actor, _| {
                let account = actor.account_id().unwrap().to_string();
                let tenant = actor.bound_tenant().map(ToString::to_string);
                let tenant = match tenant {
                    Some(t) => t,
                    None => {
                        keyward::db::models::Membership::tenants_of(conn, &account)?
                            .remove(0)
                            .0
                            .id
                    }
                };
                let key = operator_key(conn, now, &account, &tenant)?;
                services::api_keys::revoke_api_key(conn, actor, now, &ApiKeyId::from_stored(&key))
                    .map(drop)
            },
        ),
        (
            "revoke a service-account key of T",
            admins,
            |conn, now, actor, w| {
                let key = operator_key(conn, now, &w.sa, &w.tenant)?;
                services::api_keys::revoke_api_key(conn, actor, now, &ApiKeyId::from_stored(&key))
                    .map(drop)
            },
        ),
        (
            "revoke another person's key",
            nobody,
            |conn, now, actor, w| {
                let target = if actor.is(&w.user) { &w.admin } else { &w.user };
                let key = operator_key(conn, now, target, &w.tenant)?;
                services::api_keys::revoke_api_key(conn, actor, now, &ApiKeyId::from_stored(&key))
                    .map(drop)
            },
        ),
        (
            "create a service account of T",
            admins,
            |conn, now, actor, w| {
                services::service_accounts::create_service_account(
                    conn,
                    actor,
                    now,
                    &w.tenant_id(),
                    PersonName::parse(&format!("new robot {}", uuid::Uuid::new_v4().simple()))?,
                )
                .map(drop)
            },
        ),
        (
            "rename a service account of T",
            admins,
            |conn, now, actor, w| {
                let sa = throwaway_sa(conn, now, &w.tenant)?;
                services::service_accounts::rename_service_account(
                    conn,
                    actor,
                    now,
                    None,
                    &AccountId::from_stored(&sa),
                    PersonName::parse(&format!("renamed {}", uuid::Uuid::new_v4().simple()))?,
                )
                .map(drop)
            },
        ),
        (
            "remove a service account of T",
            admins,
            |conn, now, actor, w| {
                let sa = throwaway_sa(conn, now, &w.tenant)?;
                services::service_accounts::remove_service_account(
                    conn,
                    actor,
                    now,
                    None,
                    &AccountId::from_stored(&sa),
                )
                .map(drop)
            },
        ),
        ("list service accounts of T", admins, |conn, _, actor, w| {
            services::service_accounts::list_service_accounts(conn, actor, &w.tenant_id()).map(drop)
        }),
        ("invite people to T", human_admins, |conn, now, actor, w| {
            services::invitations::create_invitation(conn, actor, now, &w.tenant_id(), Role::User)
                .map(drop)
        }),
        (
            "change a member's role in T",
            human_admins,
            |conn, now, actor, w| {
                let p = throwaway_person(conn, now, &w.tenant, Role::User)?;
                services::members::change_role(
                    conn,
                    actor,
                    now,
                    &w.tenant_id(),
                    &p,
                    Role::ReadOnlyUser,
                )
                .map(drop)
            },
        ),
        (
            "remove a member of T",
            human_admins,
            |conn, now, actor, w| {
                let p = throwaway_person(conn, now, &w.tenant, Role::User)?;
                services::members::remove_member(conn, actor, now, &w.tenant_id(), &p).map(drop)
            },
        ),
        ("read T's audit log", admins, |conn, _, actor, w| {
            services::audit::list_audit_events(conn, actor, &w.tenant_id(), None, 1, 50).map(drop)
        }),
        (
            "create a tenant (operators only)",
            nobody,
            |conn, now, actor, _| {
                services::tenants::create_tenant(
                    conn,
                    actor,
                    now,
                    TenantName::parse("X")?,
                    TenantSlug::parse(&format!(
                        "x{}",
                        &uuid::Uuid::new_v4().simple().to_string()[..8]
                    ))?,
                )
                .map(drop)
            },
        ),
        (
            "delete a tenant (operators only)",
            nobody,
            |conn, now, actor, _| {
                services::tenants::delete_tenant(conn, actor, now, "other").map(drop)
            },
        ),
        (
            "create a person's account (operators only)",
            nobody,
            |conn, now, actor, _| {
                services::accounts::create_user(
                    conn,
                    actor,
                    now,
                    Email::parse("new@example.com")?,
                    PersonName::parse(&format!("New {}", uuid::Uuid::new_v4().simple()))?,
                    keyward::services::passwords::HashedPassword::of(&Password::parse_new(
                        "a new password",
                    )?)?,
                )
                .map(drop)
            },
        ),
        (
            "add a member directly (operators only)",
            nobody,
            |conn, now, actor, w| {
                let p = throwaway_person(conn, now, &w.tenant, Role::User)?;
                services::members::remove_member(
                    conn,
                    &Actor::person(w.admin.clone(), None),
                    now,
                    &w.tenant_id(),
                    &p,
                )?;
                services::members::add_member(conn, actor, now, &w.tenant_id(), &p, Role::User)
                    .map(drop)
            },
        ),
        ("change your own password", people, |conn, now, actor, _| {
            let p = Password::offered(crate::support::PASSWORD);
            services::accounts::change_own_password(conn, actor, now, &p, &p, None)
        }),
    ]
}

async fn every_row_of_the_permission_matrix_holds_for_every_kind_of_caller(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let mismatches = app
        .run(move |conn, now| {
            let mut mismatches = Vec::new();
            let mut checked = 0;
            for (row, allowed, act) in rows() {
                for caller in &w.callers {
                    let actor = actor_of(conn, now, caller)?;
                    let expected = allowed(caller.who);
                    let result = act(conn, now, &actor, &w);
                    checked += 1;
                    let ok = match (&result, expected) {
                        (Ok(()), true) => true,
                        (Err(AppError::Forbidden(_)), false) => !row.starts_with("revoke"),
                        // Revoking a key you may not revoke must not reveal it exists.
                        (Err(AppError::NotFound(m)), false) if m == "API key not found" => {
                            row.starts_with("revoke")
                        }
                        // Another tenant's service account does not exist for outsiders.
                        (Err(AppError::NotFound(m)), false) if m == "service account not found" => {
                            caller.who == Who::Outsider
                                && (row.starts_with("rename")
                                    || row.starts_with("remove")
                                    || row.starts_with("list keys of T's service accounts"))
                        }
                        _ => false,
                    };
                    if !ok {
                        mismatches.push(format!(
                            "{row} — {:?} via {:?}: expected {}, got {result:?}",
                            caller.who,
                            caller.via,
                            if expected { "allowed" } else { "refused" }
                        ));
                    }
                }
            }
            assert_eq!(checked, 21 * 9);
            Ok(mismatches)
        })
        .await
        .unwrap();
    assert!(
        mismatches.is_empty(),
        "the matrix does not hold:\n{}",
        mismatches.join("\n")
    );
}

async fn anonymous_requests_are_refused_before_any_service_runs(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app.client.get(app.url("/api/whoami")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers().get("www-authenticate").unwrap(), "Bearer");
}

async fn the_last_human_admin_can_be_neither_removed_nor_demoted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let result = app
        .run(move |conn, now| {
            let admin = Actor::person(w.admin.clone(), None);
            let (t, admin_id) = (w.tenant_id(), AccountId::from_stored(&w.admin));
            // The service account is an admin too, but not a human one.
            let demote =
                services::members::change_role(conn, &admin, now, &t, &admin_id, Role::User);
            let remove = services::members::remove_member(conn, &admin, now, &t, &admin_id);
            // With a second human admin, the first may step down.
            let user_id = AccountId::from_stored(&w.user);
            services::members::change_role(conn, &admin, now, &t, &user_id, Role::Admin)?;
            let step_down =
                services::members::change_role(conn, &admin, now, &t, &admin_id, Role::User);
            Ok((demote, remove, step_down))
        })
        .await
        .unwrap();
    assert!(
        matches!(result.0, Err(AppError::Conflict(ref m)) if m.contains("last human admin")),
        "{:?}",
        result.0
    );
    assert!(
        matches!(result.1, Err(AppError::Conflict(ref m)) if m.contains("last human admin")),
        "{:?}",
        result.1
    );
    assert!(result.2.is_ok(), "{:?}", result.2);
}

async fn a_key_sees_and_revokes_only_its_own_tenants_keys_of_a_person_in_two_tenants(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let a = app.create_tenant("a").await.id;
    let b = app.create_tenant("b").await.id;
    let pat = app
        .create_person("pat@example.com", &a, Role::User)
        .await
        .id;
    app.add_member(&pat, &b, Role::User).await;
    let (key_in_a, _) = app.create_key(&pat, &a, None).await;
    let (_, secret_in_b) = app.create_key(&pat, &b, None).await;
    let result = app
        .run(move |conn, now| {
            let principal = services::auth::authenticate(
                conn,
                now,
                &PlainToken::parse(&secret_in_b)?,
                &[],
                None,
            )?;
            let through_b = Actor::api_key(principal, None);
            let seen_through_b = services::key_lists::own_api_keys_page(
                conn,
                &through_b,
                &keyward::db::models::api_key_list::KeyWhere::default(),
                &keyward::db::models::api_key_list::KeyPage::OlderThan {
                    limit: 1_000,
                    cursor: None,
                },
            )
            .map(|k| k.page.rows)?;
            let seen_in_session = services::key_lists::own_api_keys_page(
                conn,
                &Actor::person(pat.clone(), None),
                &keyward::db::models::api_key_list::KeyWhere::default(),
                &keyward::db::models::api_key_list::KeyPage::OlderThan {
                    limit: 1_000,
                    cursor: None,
                },
            )
            .map(|k| k.page.rows)?;
            let visible_through_b = services::key_lists::visible_api_keys(
                conn,
                &through_b,
                &keyward::db::models::api_key_list::KeyWhere::default(),
                &keyward::db::models::api_key_list::KeyPage::OlderThan {
                    limit: 1_000,
                    cursor: None,
                },
            )?;
            let revoke_a_through_b = services::api_keys::revoke_api_key(
                conn,
                &through_b,
                now,
                &ApiKeyId::from_stored(&key_in_a),
            );
            let create_in_a_through_b = services::api_keys::create_api_key(
                conn,
                &through_b,
                now,
                NewApiKey {
                    account_id: AccountId::from_stored(pat.clone()),
                    tenant_id: Some(TenantId::from_stored(a.clone())),
                    name: KeyName::parse("sideways")?,
                    expires_at: None,
                    read_only: false,
                    allowed_ips: Default::default(),
                    description: Default::default(),
                },
                ApiKeyId::generate(),
                &keyward::domain::Quotas::default(),
            );
            Ok((
                seen_through_b,
                seen_in_session,
                visible_through_b,
                revoke_a_through_b,
                create_in_a_through_b,
                b,
            ))
        })
        .await
        .unwrap();
    let (through_b, in_session, visible, revoke, create, b) = result;
    assert!(
        through_b.len() == 1 && through_b[0].tenant.id == b,
        "a key lists only its tenant's keys"
    );
    assert_eq!(
        in_session.len(),
        2,
        "a person sees their keys in every tenant"
    );
    assert!(visible.iter().all(|k| k.tenant.id == b));
    assert!(
        matches!(revoke, Err(AppError::NotFound(ref m)) if m == "API key not found"),
        "{revoke:?}"
    );
    assert!(matches!(create, Err(AppError::Forbidden(_))), "{create:?}");
}

async fn a_service_account_below_admin_may_still_create_its_own_keys(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let sa_key = w
        .callers
        .iter()
        .find(|c| c.who == Who::ServiceAccount)
        .unwrap()
        .key
        .clone();
    let result = app
        .run(move |conn, now| {
            services::members::change_role(
                conn,
                &Actor::person(w.admin.clone(), None),
                now,
                &w.tenant_id(),
                &w.sa_id(),
                Role::User,
            )?;
            let principal =
                services::auth::authenticate(conn, now, &PlainToken::parse(&sa_key)?, &[], None)?;
            let robot = Actor::api_key(principal, None);
            let own = services::api_keys::create_api_key(
                conn,
                &robot,
                now,
                NewApiKey {
                    account_id: w.sa_id(),
                    tenant_id: None,
                    name: KeyName::parse("rotated")?,
                    expires_at: None,
                    read_only: false,
                    allowed_ips: Default::default(),
                    description: Default::default(),
                },
                ApiKeyId::generate(),
                &keyward::domain::Quotas::default(),
            );
            let other_sa = throwaway_sa(conn, now, &w.tenant)?;
            let other = services::api_keys::create_api_key(
                conn,
                &robot,
                now,
                NewApiKey {
                    account_id: AccountId::from_stored(other_sa),
                    tenant_id: None,
                    name: KeyName::parse("not mine")?,
                    expires_at: None,
                    read_only: false,
                    allowed_ips: Default::default(),
                    description: Default::default(),
                },
                ApiKeyId::generate(),
                &keyward::domain::Quotas::default(),
            );
            Ok((
                own.map(|c| c.token.expose_secret().starts_with("kws_")),
                other.map(drop),
            ))
        })
        .await
        .unwrap();
    assert!(matches!(result.0, Ok(true)), "{:?}", result.0);
    assert!(
        matches!(result.1, Err(AppError::Forbidden(ref m)) if m.contains("Admin role")),
        "{:?}",
        result.1
    );
}

async fn concurrent_writes_all_succeed_and_two_admins_demoting_each_other_leave_one(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    // Many writers at once: none may fail with "database is locked" or a serialization error.
    let mut tasks = Vec::new();
    for i in 0..24 {
        let (admin, tenant, sa) = (w.admin.clone(), w.tenant.clone(), w.sa.clone());
        tasks.push(app.run(move |conn, now| {
            let actor = Actor::person(admin, None);
            let key = services::api_keys::create_api_key(
                conn,
                &actor,
                now,
                NewApiKey {
                    account_id: AccountId::from_stored(sa),
                    tenant_id: None,
                    name: KeyName::parse(&format!("parallel {i}"))?,
                    expires_at: None,
                    read_only: false,
                    allowed_ips: Default::default(),
                    description: Default::default(),
                },
                ApiKeyId::generate(),
                &keyward::domain::Quotas::default(),
            )?;
            services::api_keys::revoke_api_key(conn, &actor, now, &key.key.key_id())?;
            services::service_accounts::create_service_account(
                conn,
                &actor,
                now,
                &TenantId::from_stored(&tenant),
                PersonName::parse(&format!("parallel {i}"))?,
            )
            .map(drop)
        }));
    }
    for result in futures_util::future::join_all(tasks).await {
        assert!(result.is_ok(), "{result:?}");
    }
    for round in 0..5 {
        let second = app
            .create_person(
                &format!("second{round}@example.com"),
                &w.tenant,
                Role::Admin,
            )
            .await
            .id;
        let first = if round == 0 {
            w.admin.clone()
        } else {
            app.create_person(&format!("first{round}@example.com"), &w.tenant, Role::Admin)
                .await
                .id
        };
        // Leave exactly two human admins: first and second.
        let (t, keep) = (w.tenant.clone(), [first.clone(), second.clone()]);
        app.run(move |conn, now| {
            for m in services::members::list_members(
                conn,
                &Actor::operator(),
                &TenantId::from_stored(&t),
            )? {
                if m.role == Role::Admin
                    && !m.account.is_service_account()
                    && !keep.contains(&m.account.id)
                {
                    services::members::change_role(
                        conn,
                        &Actor::person(keep[0].clone(), None),
                        now,
                        &TenantId::from_stored(&t),
                        &AccountId::from_stored(&m.account.id),
                        Role::User,
                    )?;
                }
            }
            Ok(())
        })
        .await
        .unwrap();
        let demote = |who: String, whom: String, tenant: String| {
            app.run(move |conn, now| {
                services::members::change_role(
                    conn,
                    &Actor::person(who, None),
                    now,
                    &TenantId::from_stored(&tenant),
                    &AccountId::from_stored(&whom),
                    Role::User,
                )
                .map(drop)
            })
        };
        let (r1, r2) = tokio::join!(
            demote(first.clone(), second.clone(), w.tenant.clone()),
            demote(second.clone(), first.clone(), w.tenant.clone())
        );
        let t = w.tenant.clone();
        let admins = app
            .run(move |conn, _| {
                Ok(keyward::db::models::Membership::count_human_admins(
                    conn, &t,
                )?)
            })
            .await
            .unwrap();
        assert_eq!(admins, 1, "round {round}: {r1:?} / {r2:?}");
        assert!(
            r1.is_ok() != r2.is_ok(),
            "exactly one demotion succeeds: {r1:?} / {r2:?}"
        );
        let refused = if r1.is_err() { r1 } else { r2 };
        assert!(
            matches!(refused, Err(AppError::Conflict(ref m)) if m.contains("last human admin"))
                || matches!(refused, Err(AppError::Forbidden(_))),
            "the loser is told why: {refused:?}"
        );
    }
}
