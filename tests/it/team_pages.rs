//! Team pages over HTTP (issue 5): service accounts, members and invitations, the audit
//! log — each for an admin and refused for others, each acting only on the tenant in its
//! URL.

use crate::backend_tests;
use crate::support::browser::{input_value, location, Browser};
use crate::support::{Backend, TestApp};
use keyward::domain::{AccountId, Role, TenantId};
use keyward::services::{self, Actor};
use reqwest::StatusCode;
use time::Duration;

backend_tests!(
    an_admin_creates_renames_and_removes_a_service_account_and_its_key_stops_at_once,
    non_admins_see_no_team_links_and_get_403_on_every_team_page,
    an_admin_changes_roles_and_removes_members_whose_keys_go_with_them,
    the_last_human_admin_can_be_neither_demoted_nor_removed_from_the_page,
    an_invitation_link_works_once_for_its_tenant_within_a_day,
    a_signed_in_person_joins_with_one_click,
    a_form_for_tenant_a_acts_on_a_whatever_the_current_tenant,
    the_audit_log_pages_through_a_thousand_events_and_shows_actor_and_ip,
    team_urls_without_a_tenant_go_to_the_current_tenants_page,
    team_dialogs_answer_htmx_with_their_partial_and_browsers_with_the_page,
    every_action_through_the_pages_is_in_the_audit_log_with_actor_and_address,
    joining_through_another_tenants_url_or_after_a_day_is_refused,
    the_audit_log_exports_csv_and_json_lines_with_its_filters_for_admins_only,
    a_malformed_id_in_a_page_url_is_a_400_naming_it,
);

const ADMIN: &str = "admin@example.com";
const USER: &str = "user@example.com";

struct Team {
    app: TestApp,
    tenant: String,
    admin: String,
    user: String,
}

async fn team(backend: Backend) -> Team {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("acme").await.id;
    let admin = app.create_person(ADMIN, &tenant, Role::Admin).await.id;
    let user = app.create_person(USER, &tenant, Role::User).await.id;
    Team {
        app,
        tenant,
        admin,
        user,
    }
}

fn value_of_id(html: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_string())
}

async fn an_admin_creates_renames_and_removes_a_service_account_and_its_key_stops_at_once(
    backend: Backend,
) {
    let t = team(backend).await;
    let b = Browser::new(&t.app);
    let csrf = b.sign_in(ADMIN).await;
    let list = b.get("/t/acme/team/service-accounts").await;
    assert_eq!(list.status(), 200);
    assert!(list
        .text()
        .await
        .unwrap()
        .contains("no service accounts yet"));

    let bad = b
        .post(
            "/t/acme/team/service-accounts",
            &[("csrf_token", &csrf), ("name", "  ")],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad
        .text()
        .await
        .unwrap()
        .contains("data-field-error=\"name\""));
    let created = b
        .post(
            "/t/acme/team/service-accounts",
            &[("csrf_token", &csrf), ("name", "deployer")],
        )
        .await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let detail = location(&created);
    assert!(
        detail.starts_with("/t/acme/team/service-accounts/"),
        "{detail}"
    );
    let page = b.get(&detail).await.text().await.unwrap();
    assert!(page.contains("Created the service account “deployer”"));
    assert!(b
        .get("/t/acme/team/service-accounts")
        .await
        .text()
        .await
        .unwrap()
        .contains(">deployer</a>"));

    // A key for it, shown once.
    let form = b
        .get(&format!("{detail}/api-keys/new"))
        .await
        .text()
        .await
        .unwrap();
    let nonce = input_value(&form, "nonce").unwrap();
    let made = b
        .post(
            &format!("{detail}/api-keys"),
            &[
                ("csrf_token", &csrf),
                ("nonce", &nonce),
                ("name", "ci"),
                ("expiration", "never"),
                ("tenant_id", &t.tenant),
            ],
        )
        .await;
    assert_eq!(made.status(), 200);
    assert_eq!(made.headers().get("cache-control").unwrap(), "no-store");
    let key = value_of_id(&made.text().await.unwrap(), "new-api-key").expect("the key is shown");
    assert!(key.starts_with("kws_"));
    assert_eq!(t.app.whoami_status(&key).await, 200);
    assert!(
        !b.get(&detail).await.text().await.unwrap().contains(&key),
        "shown only once"
    );

    let renamed = b
        .post(
            &format!("{detail}/rename"),
            &[("csrf_token", &csrf), ("name", "robot")],
        )
        .await;
    assert_eq!(renamed.status(), StatusCode::SEE_OTHER);
    assert!(b
        .get(&detail)
        .await
        .text()
        .await
        .unwrap()
        .contains("<h1>robot</h1>"));

    let confirm = b
        .get(&format!("{detail}/remove"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        confirm.contains("1 API key</strong> will stop working at once"),
        "{confirm}"
    );
    let removed = b
        .post(&format!("{detail}/remove"), &[("csrf_token", &csrf)])
        .await;
    assert_eq!(removed.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        t.app.whoami_status(&key).await,
        401,
        "its key fails on the very next request"
    );
    assert_eq!(b.get(&detail).await.status(), 404);
}

async fn non_admins_see_no_team_links_and_get_403_on_every_team_page(backend: Backend) {
    let t = team(backend).await;
    let sa = t.app.create_service_account(&t.tenant, "deployer").await.id;
    let b = Browser::new(&t.app);
    let csrf = b.sign_in(USER).await;
    let home = b.get("/user/api-keys").await.text().await.unwrap();
    assert!(!home.contains("nav-team"), "no Team links for a non-admin");
    for path in [
        "/t/acme/team/service-accounts".to_string(),
        "/t/acme/team/service-accounts/new".to_string(),
        format!("/t/acme/team/service-accounts/{sa}"),
        format!("/t/acme/team/service-accounts/{sa}/remove"),
        "/t/acme/team/members".to_string(),
        "/t/acme/team/invitations/new".to_string(),
        "/t/acme/team/audit-log".to_string(),
        "/t/other/team/members".to_string(),
    ] {
        let res = b.get(&path).await;
        assert_eq!(res.status(), 403, "{path}");
        assert!(
            res.text().await.unwrap().contains("id=\"error-message\""),
            "{path}: a 403 page"
        );
    }
    // Every state-changing team route of the route table, with real ids and a valid form.
    let (sa_key, _sa_secret) = t.app.create_key(&sa, &t.tenant, None).await;
    let invitation = t
        .app
        .create_invitation(&t.admin, &t.tenant, Role::User)
        .await
        .invitation
        .id;
    let team_posts: Vec<_> = keyward::web::routes::routes()
        .into_iter()
        .filter(|r| {
            r.method == actix_web::http::Method::POST && r.path.starts_with("/t/{slug}/team/")
        })
        .collect();
    assert!(team_posts.len() >= 9, "the team routes are in the table");
    for route in team_posts {
        let path = route
            .path
            .replace("{slug}", "acme")
            .replace("{sa_id}", &sa)
            .replace("{id}", &sa_key)
            .replace("{account_id}", &t.admin)
            .replace("{invitation_id}", &invitation);
        let form = [
            ("csrf_token", csrf.as_str()),
            ("name", "sneaky"),
            ("role", "USER"),
            ("nonce", "n"),
            ("expiration", "never"),
            ("tenant_id", t.tenant.as_str()),
        ];
        let res = b.post(&path, &form).await;
        if route.parity == keyward::web::routes::Parity::Mutation("delete_api_key") {
            // DESIGN §2: revoking a key you may not revoke says only that it is not found.
            assert_eq!(res.status(), 404, "{path}");
            continue;
        }
        assert_eq!(res.status(), 403, "{path}");
        assert!(
            res.text().await.unwrap().contains("Admin role"),
            "{path}: says which permission is missing"
        );
    }
    let sa_still_there = t
        .app
        .run(move |conn, _| Ok(keyward::db::models::Account::find(conn, &sa)?.is_some()))
        .await
        .unwrap();
    assert!(sa_still_there);
    assert_eq!(
        t.app
            .get_with_key("/api/whoami", &_sa_secret)
            .await
            .status(),
        200,
        "its key still works"
    );
}

async fn an_admin_changes_roles_and_removes_members_whose_keys_go_with_them(backend: Backend) {
    let t = team(backend).await;
    let (_, user_key) = t.app.create_key(&t.user, &t.tenant, None).await;
    let b = Browser::new(&t.app);
    let csrf = b.sign_in(ADMIN).await;
    let page = b.get("/t/acme/team/members").await.text().await.unwrap();
    assert!(
        page.contains(&format!("id=\"member-{}\"", t.user)) && page.contains("data-role=\"USER\"")
    );
    let res = b
        .post(
            &format!("/t/acme/team/members/{}/role", t.user),
            &[("csrf_token", &csrf), ("role", "READ_ONLY_USER")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let who: serde_json::Value = t
        .app
        .get_with_key("/api/whoami", &user_key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        who["role"], "READ_ONLY_USER",
        "the existing key's power follows the role"
    );
    let bad_role = b
        .post(
            &format!("/t/acme/team/members/{}/role", t.user),
            &[("csrf_token", &csrf), ("role", "OWNER")],
        )
        .await;
    assert_eq!(bad_role.status(), 400);

    let confirm = b
        .get(&format!("/t/acme/team/members/{}/remove", t.user))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        confirm.contains("1 API key</strong> of theirs"),
        "{confirm}"
    );
    let res = b
        .post(
            &format!("/t/acme/team/members/{}/remove", t.user),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        t.app.whoami_status(&user_key).await,
        401,
        "a removed member loses that tenant's keys"
    );
    assert!(!b
        .get("/t/acme/team/members")
        .await
        .text()
        .await
        .unwrap()
        .contains(&format!("id=\"member-{}\"", t.user)));
}

async fn the_last_human_admin_can_be_neither_demoted_nor_removed_from_the_page(backend: Backend) {
    let t = team(backend).await;
    let b = Browser::new(&t.app);
    let csrf = b.sign_in(ADMIN).await;
    // The page offers no other role for the last admin and says why, in place (issue 31
    // point 3); the other rows keep their selector.
    let page = b.get("/t/acme/team/members").await.text().await.unwrap();
    let start = page.find(&format!("id=\"member-{}\"", t.admin)).unwrap();
    let row = &page[start..start + page[start..].find("</tr>").unwrap()];
    assert!(!row.contains("name=\"role\""), "no role selector: {row}");
    assert!(
        row.contains("data-last-admin-note")
            && row.contains("make someone else an admin before changing this role"),
        "{row}"
    );
    let start = page.find(&format!("id=\"member-{}\"", t.user)).unwrap();
    let row = &page[start..start + page[start..].find("</tr>").unwrap()];
    assert!(row.contains("name=\"role\""), "{row}");
    // A stale page's demotion comes back to the members page with the reason.
    let demote = b
        .post(
            &format!("/t/acme/team/members/{}/role", t.admin),
            &[("csrf_token", &csrf), ("role", "USER")],
        )
        .await;
    assert_eq!(demote.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&demote), "/t/acme/team/members");
    let back = b.get("/t/acme/team/members").await.text().await.unwrap();
    assert!(
        back.contains("The role did not change: the last human admin of a tenant cannot be demoted; make someone else an admin first."),
        "{back}"
    );
    let remove = b
        .post(
            &format!("/t/acme/team/members/{}/remove", t.admin),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(remove.status(), StatusCode::CONFLICT);
    // Over htmx it is a toast.
    let hx = b
        .post_hx(
            &format!("/t/acme/team/members/{}/remove", t.admin),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(hx.headers().get("hx-retarget").unwrap(), "#toasts");
    assert!(b
        .get("/t/acme/team/members")
        .await
        .text()
        .await
        .unwrap()
        .contains("data-role=\"ADMIN\""));
}

async fn create_invitation(b: &Browser, csrf: &str, slug: &str, role: &str) -> String {
    let res = b
        .post(
            &format!("/t/{slug}/team/invitations"),
            &[("csrf_token", csrf), ("role", role)],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    let link =
        value_of_id(&res.text().await.unwrap(), "invitation-link").expect("the link is shown");
    let path = link
        .split_once("://")
        .map(|(_, rest)| &rest[rest.find('/').unwrap()..])
        .unwrap()
        .to_string();
    assert!(path.starts_with(&format!("/t/{slug}/join/")), "{path}");
    path
}

async fn an_invitation_link_works_once_for_its_tenant_within_a_day(backend: Backend) {
    let t = team(backend).await;
    t.app.create_tenant("other").await;
    let admin = Browser::new(&t.app);
    let csrf = admin.sign_in(ADMIN).await;
    // A note with a hidden bidi override: the form again (a plain page without htmx),
    // saying why, with what was typed; no link is made.
    let refused = admin
        .post(
            "/t/acme/team/invitations",
            &[
                ("csrf_token", csrf.as_str()),
                ("role", "ADMIN"),
                ("note", "for Grace\u{202e}"),
            ],
        )
        .await;
    assert_eq!(refused.status(), 422);
    let form = refused.text().await.unwrap();
    assert!(
        form.contains("U+202E") && form.contains("invitation-note-error"),
        "{form}"
    );
    assert!(
        form.contains("<option value=\"ADMIN\" selected>"),
        "the role is kept"
    );
    assert!(!form.contains("invitation-link"));
    let link = create_invitation(&admin, &csrf, "acme", "READ_ONLY_USER").await;
    let members = admin
        .get("/t/acme/team/members")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        members.contains("invitations-table"),
        "listed while pending"
    );
    assert_eq!(
        members.matches("data-invitation-id=").count(),
        1,
        "the refused form made none"
    );
    let token = link.rsplit('/').next().unwrap().to_string();

    // The same token on another tenant's URL is refused.
    let stranger = Browser::new(&t.app);
    assert_eq!(
        stranger
            .get(&format!("/t/other/join/{token}"))
            .await
            .status(),
        404
    );

    let newcomer = Browser::new(&t.app);
    let page = newcomer.get(&link).await.text().await.unwrap();
    assert!(
        page.contains("Join Tenant acme") && page.contains("Read-only user"),
        "{page}"
    );
    let joined = newcomer
        .post(
            &format!("{link}/account"),
            &[
                ("email", "new@example.com"),
                ("name", "Newcomer"),
                ("password", "a long enough password"),
            ],
        )
        .await;
    assert_eq!(
        joined.status(),
        StatusCode::SEE_OTHER,
        "{}",
        joined.text().await.unwrap()
    );
    let home = newcomer.get("/user/api-keys").await.text().await.unwrap();
    assert!(
        home.contains("Welcome to Tenant acme"),
        "signed in and told so"
    );
    let members = admin
        .get("/t/acme/team/members")
        .await
        .text()
        .await
        .unwrap();
    assert!(members.contains("new@example.com") && members.contains("no-invitations"));

    // Used twice: refused, and no account made.
    let second = Browser::new(&t.app);
    assert_eq!(second.get(&link).await.status(), 409);
    let again = second
        .post(
            &format!("{link}/account"),
            &[
                ("email", "second@example.com"),
                ("name", "Second"),
                ("password", "a long enough password"),
            ],
        )
        .await;
    assert_eq!(again.status(), 409);

    // After 24 hours: refused.
    let late = create_invitation(&admin, &csrf, "acme", "USER").await;
    t.app
        .clock
        .advance(Duration::hours(24) + Duration::seconds(1));
    let res = Browser::new(&t.app).get(&late).await;
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("expired"));
}

async fn a_signed_in_person_joins_with_one_click(backend: Backend) {
    let t = team(backend).await;
    let other = t.app.create_tenant("other").await.id;
    t.app
        .create_person("pat@example.com", &other, Role::User)
        .await;
    let admin = Browser::new(&t.app);
    let csrf = admin.sign_in(ADMIN).await;
    let link = create_invitation(&admin, &csrf, "acme", "USER").await;
    let pat = Browser::new(&t.app);
    let pat_csrf = pat.sign_in("pat@example.com").await;
    let page = pat.get(&link).await.text().await.unwrap();
    assert!(page.contains("You are signed in as pat@example.com"));
    let joined = pat.post(&link, &[("csrf_token", &pat_csrf)]).await;
    assert_eq!(joined.status(), StatusCode::SEE_OTHER);
    let home = pat.get("/user/api-keys").await.text().await.unwrap();
    assert!(home.contains("You joined Tenant acme as User"));
    assert_eq!(
        pat.post(&link, &[("csrf_token", &pat_csrf)]).await.status(),
        409,
        "a link works once"
    );
}

async fn a_form_for_tenant_a_acts_on_a_whatever_the_current_tenant(backend: Backend) {
    let t = team(backend).await;
    let b_tenant = t.app.create_tenant("beta").await.id;
    t.app.add_member(&t.admin, &b_tenant, Role::Admin).await;
    let sa_in_b = t
        .app
        .create_service_account(&b_tenant, "beta robot")
        .await
        .id;
    let (key_in_b, _) = t.app.create_key(&sa_in_b, &b_tenant, None).await;
    let browser = Browser::new(&t.app);
    let csrf = browser.sign_in(ADMIN).await;
    // Another tab switches the current tenant to beta…
    assert_eq!(
        browser
            .post(
                "/tenant",
                &[("csrf_token", &csrf), ("tenant_id", &b_tenant)]
            )
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    // …and the acme form still acts on acme.
    let created = browser
        .post(
            "/t/acme/team/service-accounts",
            &[("csrf_token", &csrf), ("name", "acme robot")],
        )
        .await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let (tenant, admin) = (t.tenant.clone(), t.admin.clone());
    let in_acme = t
        .app
        .run(move |conn, _| {
            services::service_accounts::list_service_accounts(
                conn,
                &Actor::person(admin, None),
                &TenantId::from_stored(&tenant),
            )
        })
        .await
        .unwrap();
    assert!(in_acme.iter().any(|sa| sa.account.name == "acme robot"));
    // An acme URL cannot reach beta's service account or its key.
    let rename = browser
        .post(
            &format!("/t/acme/team/service-accounts/{sa_in_b}/rename"),
            &[("csrf_token", &csrf), ("name", "hijacked")],
        )
        .await;
    assert_eq!(rename.status(), 404);
    let delete = browser
        .post(
            &format!("/t/acme/team/service-accounts/{sa_in_b}/api-keys/{key_in_b}/delete"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(delete.status(), 404);
    let (sa, admin) = (sa_in_b.clone(), t.admin.clone());
    let keys = t
        .app
        .run(move |conn, _| {
            services::key_lists::service_account_keys(
                conn,
                &Actor::person(admin, None),
                &AccountId::from_stored(&sa),
                &keyward::db::models::api_key_list::KeyWhere::default(),
                &keyward::db::models::api_key_list::KeyPage::OlderThan {
                    limit: 1_000,
                    cursor: None,
                },
            )
        })
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "beta's key is untouched");
    assert!(keys[0].account.name == "beta robot");
}

async fn the_audit_log_pages_through_a_thousand_events_and_shows_actor_and_ip(backend: Backend) {
    let t = team(backend).await;
    let (admin, tenant, clock) = (t.admin.clone(), t.tenant.clone(), t.app.clock.clone());
    t.app
        .run(move |conn, _| {
            let actor = Actor::person(admin, Some("203.0.113.9".into()));
            for i in 0..1000 {
                clock.advance(Duration::milliseconds(1));
                services::service_accounts::create_service_account(
                    conn,
                    &actor,
                    clock.now(),
                    &TenantId::from_stored(&tenant),
                    keyward::domain::PersonName::parse(&format!("robot {i:04}"))?,
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let b = Browser::new(&t.app);
    b.sign_in(ADMIN).await;
    let mut url = "/t/acme/team/audit-log?action=service_account.created".to_string();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = b.get(&url).await;
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        pages += 1;

        for chunk in html
            .split("data-action=\"service_account.created\"")
            .skip(1)
        {
            let detail = chunk
                .split("data-col=\"target\">")
                .nth(1)
                .unwrap()
                .split('<')
                .next()
                .unwrap()
                .to_string();
            assert!(
                chunk.contains("admin at example.com") && chunk.contains("203.0.113.9"),
                "actor and IP"
            );
            seen.push(detail);
        }
        match html
            .split("id=\"audit-older\"")
            .next()
            .and_then(|h| h.rsplit("href=\"").next())
            .filter(|_| html.contains("id=\"audit-older\""))
        {
            Some(next) => {
                url = next
                    .split('"')
                    .next()
                    .unwrap()
                    .replace("&amp;", "&")
                    .replace("&#38;", "&")
            }
            None => break,
        }
        assert!(pages <= 20, "at most 20 pages of 50: {url}");
    }
    assert_eq!(pages, 20);
    assert_eq!(seen.len(), 1000);
    assert!(
        seen[0].contains("robot 0999") && seen[999].contains("robot 0000"),
        "newest first"
    );
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 1000, "no event twice, none missing");
    // Every action of the pages shows up too.
    let all = b.get("/t/acme/team/audit-log").await.text().await.unwrap();
    assert!(
        all.contains("1,004 events"),
        "the total is shown: the tenant, two members, 1,000 robots and the admin's sign-in"
    );
    // An edited cursor is the first page, not an error.
    let edited = b.get("/t/acme/team/audit-log?older=abc").await;
    assert_eq!(edited.status(), 200);
    let unknown = b.get("/t/acme/team/audit-log?action=nope").await;
    assert_eq!(unknown.status(), 400);
}

async fn team_urls_without_a_tenant_go_to_the_current_tenants_page(backend: Backend) {
    let t = team(backend).await;
    let b = Browser::new(&t.app);
    b.sign_in(ADMIN).await;
    for page in ["service-accounts", "members", "audit-log"] {
        let res = b.get(&format!("/team/{page}")).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&res), format!("/t/acme/team/{page}"));
    }
    assert_eq!(b.get("/team/nothing").await.status(), 404);
}

async fn team_dialogs_answer_htmx_with_their_partial_and_browsers_with_the_page(backend: Backend) {
    let t = team(backend).await;
    let sa = t.app.create_service_account(&t.tenant, "deployer").await.id;
    let b = Browser::new(&t.app);
    let csrf = b.sign_in(ADMIN).await;
    for path in [
        "/t/acme/team/service-accounts/new".to_string(),
        format!("/t/acme/team/service-accounts/{sa}/remove"),
        format!("/t/acme/team/service-accounts/{sa}/api-keys/new"),
        format!("/t/acme/team/members/{}/remove", t.user),
        "/t/acme/team/invitations/new".to_string(),
    ] {
        let partial = b.get_hx(&path).await;
        assert_eq!(partial.status(), 200, "{path}");
        let body = partial.text().await.unwrap();
        assert!(
            body.contains("id=\"dialog-title\"") && !body.contains("<html"),
            "{path}: the dialog only"
        );
        let page = b.get(&path).await.text().await.unwrap();
        assert!(
            page.contains("<html") && page.contains("id=\"dialog-title\""),
            "{path}: the whole page"
        );
    }
    let created = b
        .post_hx(
            "/t/acme/team/service-accounts",
            &[("csrf_token", &csrf), ("name", "robot")],
        )
        .await;
    assert_eq!(created.status(), 200);
    let to = created
        .headers()
        .get("hx-redirect")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(to.starts_with("/t/acme/team/service-accounts/"));
    let invalid = b
        .post_hx(
            "/t/acme/team/service-accounts",
            &[("csrf_token", &csrf), ("name", "")],
        )
        .await;
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        invalid
            .text()
            .await
            .unwrap()
            .contains("data-field-error=\"name\""),
        "errors beside the field, in the dialog"
    );
}

/// The audit rows of a page: (action, the row's HTML).
fn audit_rows(html: &str) -> Vec<(String, String)> {
    html.split("<tr data-action=\"")
        .skip(1)
        .map(|row| {
            let (action, rest) = row.split_once('"').unwrap();
            (
                action.to_string(),
                rest.split("</tr>").next().unwrap().to_string(),
            )
        })
        .collect()
}

async fn every_action_through_the_pages_is_in_the_audit_log_with_actor_and_address(
    backend: Backend,
) {
    let t = team(backend).await;
    let b = Browser::new(&t.app);
    let csrf = b.sign_in(ADMIN).await;
    let post = |path: String, form: Vec<(&'static str, String)>| {
        let b = &b;
        let csrf = csrf.clone();
        async move {
            let mut form = form;
            form.push(("csrf_token", csrf));
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let res = b.post(&path, &form).await;
            assert!(
                res.status().is_success() || res.status().is_redirection(),
                "{path}: {}",
                res.status()
            );
            res
        }
    };
    let created = post(
        "/t/acme/team/service-accounts".into(),
        vec![("name", "robot".into())],
    )
    .await;
    let sa = location(&created);
    post(format!("{sa}/rename"), vec![("name", "robot two".into())]).await;
    let form = b
        .get(&format!("{sa}/api-keys/new"))
        .await
        .text()
        .await
        .unwrap();
    let nonce = input_value(&form, "nonce").unwrap();
    let made = post(
        format!("{sa}/api-keys"),
        vec![
            ("nonce", nonce),
            ("name", "ci".into()),
            ("expiration", "7".into()),
            ("tenant_id", t.tenant.clone()),
        ],
    )
    .await;
    assert!(value_of_id(&made.text().await.unwrap(), "new-api-key").is_some());
    let keys = b.get(&format!("{sa}/api-keys")).await.text().await.unwrap();
    let key_id = keys
        .split("data-key-id=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    post(format!("{sa}/api-keys/{key_id}/delete"), vec![]).await;
    post(format!("{sa}/remove"), vec![]).await;
    let revoked_link = create_invitation(&b, &csrf, "acme", "USER").await;
    assert!(revoked_link.contains("/join/"));
    let members = b.get("/t/acme/team/members").await.text().await.unwrap();
    let invitation_id = members
        .split("data-invitation-id=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    post(
        format!("/t/acme/team/invitations/{invitation_id}/revoke"),
        vec![],
    )
    .await;
    let link = create_invitation(&b, &csrf, "acme", "USER").await;
    let newcomer = Browser::new(&t.app);
    let joined = newcomer
        .post(
            &format!("{link}/account"),
            &[
                ("email", "new@example.com"),
                ("name", "Newcomer"),
                ("password", "a long enough password"),
            ],
        )
        .await;
    assert_eq!(joined.status(), StatusCode::SEE_OTHER);
    let new_id = t
        .app
        .run(|conn, _| {
            Ok(
                keyward::db::models::Account::find_by_email(conn, "new@example.com")?
                    .unwrap()
                    .id,
            )
        })
        .await
        .unwrap();
    post(
        format!("/t/acme/team/members/{new_id}/role"),
        vec![("role", "READ_ONLY_USER".into())],
    )
    .await;
    post(format!("/t/acme/team/members/{new_id}/remove"), vec![]).await;

    let log = b.get("/t/acme/team/audit-log").await.text().await.unwrap();
    let rows = audit_rows(&log);
    let by = |action: &str, actor: &str| {
        rows.iter().any(|(a, row)| {
            a == action && row.contains(actor) && row.contains("<td data-col=\"ip\">127.0.0.1</td>")
        })
    };
    for action in [
        "service_account.created",
        "service_account.renamed",
        "api_key.created",
        "api_key.revoked",
        "service_account.removed",
        "invitation.created",
        "invitation.revoked",
        "member.role_changed",
        "member.removed",
    ] {
        assert!(
            by(action, "admin at example.com"),
            "{action} by the admin from 127.0.0.1"
        );
    }
    assert!(
        by("invitation.accepted", "Newcomer"),
        "the newcomer's joining, from their address"
    );
}

async fn joining_through_another_tenants_url_or_after_a_day_is_refused(backend: Backend) {
    let t = team(backend).await;
    t.app.create_tenant("other").await;
    t.app
        .create_person("pat@example.com", &t.tenant, Role::User)
        .await;
    let admin = Browser::new(&t.app);
    let csrf = admin.sign_in(ADMIN).await;
    let link = create_invitation(&admin, &csrf, "acme", "ADMIN").await;
    let token = link.rsplit('/').next().unwrap().to_string();
    let signup = [
        ("email", "x@example.com"),
        ("name", "X"),
        ("password", "a long enough password"),
    ];
    // Another tenant's URL: refused, whether signed in or signing up.
    let pat = Browser::new(&t.app);
    let pat_csrf = pat.sign_in("pat@example.com").await;
    assert_eq!(
        pat.post(
            &format!("/t/other/join/{token}"),
            &[("csrf_token", &pat_csrf)]
        )
        .await
        .status(),
        404
    );
    let stranger = Browser::new(&t.app);
    assert_eq!(
        stranger
            .post(&format!("/t/other/join/{token}/account"), &signup)
            .await
            .status(),
        404
    );
    // After a day: refused too, and nobody joined or was created.
    t.app
        .clock
        .advance(Duration::hours(24) + Duration::seconds(1));
    assert_eq!(
        stranger
            .post(&format!("{link}/account"), &signup)
            .await
            .status(),
        409
    );
    let pat_csrf = pat.sign_in("pat@example.com").await;
    assert_eq!(
        pat.post(&link, &[("csrf_token", &pat_csrf)]).await.status(),
        409
    );
    let (exists, admins) = t
        .app
        .run(move |conn, _| {
            let exists =
                keyward::db::models::Account::find_by_email(conn, "x@example.com")?.is_some();
            let tenant = keyward::db::models::Tenant::find_by_slug(conn, "acme")?.unwrap();
            Ok((
                exists,
                keyward::db::models::Membership::count_human_admins(conn, &tenant.id)?,
            ))
        })
        .await
        .unwrap();
    assert!(!exists);
    assert_eq!(admins, 1, "pat did not become an admin");
}

async fn the_audit_log_exports_csv_and_json_lines_with_its_filters_for_admins_only(
    backend: Backend,
) {
    let t = team(backend).await;
    let (admin, tenant, clock) = (t.admin.clone(), t.tenant.clone(), t.app.clock.clone());
    // More than one chunk (500) of one action, one of them named like a formula.
    t.app
        .run(move |conn, _| {
            let actor = Actor::person(admin, Some("203.0.113.9".into()));
            for i in 0..601 {
                clock.advance(Duration::milliseconds(1));
                let name = format!("robot {i:04}");
                services::service_accounts::create_service_account(
                    conn,
                    &actor,
                    clock.now(),
                    &TenantId::from_stored(&tenant),
                    keyward::domain::PersonName::parse(&name)?,
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
    // The admin's name reads like a formula.
    t.app
        .sql(&format!(
            "UPDATE accounts SET name = '=HYPERLINK(1)' WHERE id = '{}'",
            t.admin
        ))
        .await;
    let b = Browser::new(&t.app);
    b.sign_in(ADMIN).await;
    let page = b
        .get("/t/acme/team/audit-log?action=service_account.created")
        .await
        .text()
        .await
        .unwrap();
    // The day filters read as ISO dates, as everything else does (issue 31 point 11).
    assert!(
        page.contains("id=\"audit-from\" name=\"from\" value=\"\" inputmode=\"numeric\" pattern=\"[0-9]{4}-[0-9]{2}-[0-9]{2}\" placeholder=\"YYYY-MM-DD\""),
        "{page}"
    );
    let csv_url = "/t/acme/team/audit-log/export?format=csv&#38;action=service_account.created";
    assert!(
        page.contains(csv_url),
        "the export keeps the filters: {page}"
    );

    let csv = b
        .get("/t/acme/team/audit-log/export?format=csv&action=service_account.created")
        .await;
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(csv.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("attachment; filename=\"keyward-audit-log-acme.csv\""));
    let csv = csv.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "at,action,actor_id,actor,actor_kind,via_key_id,via_key,target_id,detail,ip"
    );
    assert_eq!(lines.len(), 1 + 601, "every event, across chunks");
    assert!(lines[1..]
        .iter()
        .all(|l| l.contains(",service_account.created,")));
    let formula = lines.last().unwrap();
    assert!(
        formula.contains(",'=HYPERLINK(1),person,") && formula.ends_with(",203.0.113.9"),
        "a formula is not run by a spreadsheet: {formula}"
    );

    let jsonl = b
        .get("/t/acme/team/audit-log/export?format=jsonl&action=service_account.created&q=robot+0001")
        .await
        .text()
        .await
        .unwrap();
    let events: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "{jsonl}");
    assert_eq!(events[0]["action"], "service_account.created");
    assert_eq!(events[0]["actor"], "=HYPERLINK(1)", "JSON is not changed");
    assert_eq!(events[0]["ip"], "203.0.113.9");

    // Each export is audited, with its filters.
    let log = b
        .get("/t/acme/team/audit-log?action=audit_log.exported")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        log.contains("CSV export, filtered by action=service_account.created")
            && log.contains(
                "JSONL export, filtered by q=robot+0001&#38;action=service_account.created"
            ),
        "{log}"
    );
    assert_eq!(
        b.get("/t/acme/team/audit-log/export?format=xlsx")
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    // Admins only.
    let u = Browser::new(&t.app);
    u.sign_in(USER).await;
    assert_eq!(
        u.get("/t/acme/team/audit-log/export?format=csv")
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
}

async fn a_malformed_id_in_a_page_url_is_a_400_naming_it(backend: Backend) {
    let t = team(backend).await;
    let b = Browser::new(&t.app);
    let csrf = b.sign_in(ADMIN).await;
    for (path, field) in [
        ("/t/acme/team/service-accounts/not-a-uuid", "sa_id"),
        ("/user/api-keys/not-a-uuid/delete", "id"),
    ] {
        let res = b.get(path).await;
        assert_eq!(res.status(), 400, "{path}");
        let message = res.text().await.unwrap().to_lowercase();
        assert!(
            message.contains(&format!("{field}: must be a uuid")),
            "{path}: says which part of the address is wrong"
        );
    }
    let res = b
        .post(
            "/t/acme/team/invitations/not-a-uuid/revoke",
            &[("csrf_token", csrf.as_str())],
        )
        .await;
    assert_eq!(res.status(), 400);
    let message = res.text().await.unwrap().to_lowercase();
    assert!(message.contains("invitation_id: must be a uuid"));
}
