//! Team › Audit log (issue 12, point 8): sign-ins and failed sign-ins are in the log of
//! every tenant of the account, unknown emails add nothing, and the log filters by who
//! and by days, keeping the filters while it pages.

use crate::backend_tests;
use crate::support::browser::Browser;
use crate::support::{dump_database, Backend, TestApp, PASSWORD};
use keyward::domain::{PersonName, Role, TenantId};
use keyward::services::{self, Actor};
use time::Duration;

backend_tests!(
    sign_ins_and_failures_are_audited_in_every_tenant_of_the_account_and_never_the_password,
    the_audit_log_filters_by_who_and_by_days_and_keeps_them_while_paging,
);

/// `(action, detail)` of a tenant's events, oldest first.
async fn events(app: &TestApp, tenant_id: &str) -> Vec<(String, String)> {
    let tenant_id = tenant_id.to_string();
    app.run(move |conn, _| {
        let mut all = Vec::new();
        let mut page = 1;
        loop {
            let found = services::audit::list_audit_events(
                conn,
                &Actor::operator(),
                &TenantId::from_stored(&tenant_id),
                None,
                page,
                500,
            )?;
            let n = found.events.len();
            all.extend(
                found
                    .events
                    .into_iter()
                    .map(|e| (e.event.action, e.event.detail)),
            );
            if n < 500 {
                break;
            }
            page += 1;
        }
        all.reverse();
        Ok(all)
    })
    .await
    .unwrap()
}

fn of(events: &[(String, String)], action: &str) -> Vec<String> {
    events
        .iter()
        .filter(|(a, _)| a == action)
        .map(|(_, d)| d.clone())
        .collect()
}

async fn sign_ins_and_failures_are_audited_in_every_tenant_of_the_account_and_never_the_password(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_tenant("acme").await.id;
    let beta = app.create_tenant("beta").await.id;
    let other = app.create_tenant("other").await.id;
    let ada = app
        .create_person("ada@example.com", &acme, Role::User)
        .await;
    app.add_member(&ada.id, &beta, Role::Admin).await;
    let before_other = events(&app, &other).await.len();

    let wrong = "not-the-password-but-close";
    for _ in 0..5 {
        let res = Browser::new(&app)
            .sign_in_with("Ada@Example.com", wrong)
            .await;
        assert_eq!(res.status(), 401);
    }
    // An unknown email writes nothing in any log (its failures are counted, bounded, in
    // sign_in_failures only).
    for i in 0..3 {
        Browser::new(&app)
            .sign_in_with(&format!("nobody{i}@example.com"), wrong)
            .await;
    }
    // The lock lifts after 15 minutes; then the right password signs in.
    app.clock.advance(Duration::minutes(16));
    Browser::new(&app).sign_in("ada@example.com").await;

    for tenant in [&acme, &beta] {
        let log = events(&app, tenant).await;
        let failed = of(&log, "sign_in.failed");
        assert_eq!(failed.len(), 5, "{log:?}");
        assert!(
            failed[..4].iter().all(|d| d == "wrong password"),
            "{failed:?}"
        );
        assert!(
            failed[4].contains("locked for 15 minutes"),
            "the failure that locks says so: {failed:?}"
        );
        assert_eq!(of(&log, "sign_in.succeeded"), ["signed in with a password"]);
    }
    assert_eq!(
        events(&app, &other).await.len(),
        before_other,
        "a tenant Ada is not in sees nothing of her"
    );
    let sign_in_rows = app
        .run(|conn, _| {
            use diesel::prelude::*;
            use keyward::db::schema::audit_events::dsl::*;
            Ok(audit_events
                .filter(action.like("sign_in.%"))
                .count()
                .get_result::<i64>(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(
        sign_in_rows, 12,
        "Ada's six in each of her two tenants, none for nobody@"
    );

    // Shown to the tenant's admins in words, with the address, and filtered by action.
    let admin = Browser::new(&app);
    app.create_person("boss@example.com", &acme, Role::Admin)
        .await;
    admin.sign_in("boss@example.com").await;
    let page = admin
        .get("/t/acme/team/audit-log?action=sign_in.failed")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(page.matches("data-action=\"sign_in.failed\"").count(), 5);
    assert!(page.contains("Sign-in failed") && page.contains("127.0.0.1"));
    assert!(page.contains("<option value=\"sign_in.succeeded\""));

    let stored = dump_database(&app).await;
    assert!(!stored.contains(wrong), "no offered password is stored");
    assert!(!stored.contains(PASSWORD), "nor the real one");
}

/// The `?…` of a page's Older link, if any.
fn older_link(html: &str) -> Option<String> {
    let at = html.find("id=\"audit-older\"")?;
    let href = html[..at].rsplit("href=\"").next()?;
    Some(
        href.split('"')
            .next()?
            .replace("&amp;", "&")
            .replace("&#38;", "&"),
    )
}

async fn the_audit_log_filters_by_who_and_by_days_and_keeps_them_while_paging(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_tenant("acme").await.id;
    let ada = app
        .create_person("ada@example.com", &acme, Role::Admin)
        .await
        .id;
    let bob = app
        .create_person("bob@example.com", &acme, Role::Admin)
        .await
        .id;
    let robots = |who: String, from: usize, n: usize| {
        let (tenant, clock) = (acme.clone(), app.clock.clone());
        app.run(move |conn, _| {
            let actor = Actor::person(who, Some("203.0.113.7".into()));
            for i in from..from + n {
                clock.advance(Duration::seconds(1));
                services::service_accounts::create_service_account(
                    conn,
                    &actor,
                    clock.now(),
                    &TenantId::from_stored(&tenant),
                    PersonName::parse(&format!("robot {i:03}"))?,
                )?;
            }
            Ok(())
        })
    };
    let first_day = app.clock.now().date();
    robots(ada.clone(), 0, 60).await.unwrap();
    app.clock.advance(Duration::days(1));
    let second_day = app.clock.now().date();
    robots(bob.clone(), 60, 3).await.unwrap();
    robots(ada.clone(), 63, 2).await.unwrap();

    let b = Browser::new(&app);
    b.sign_in("ada@example.com").await;
    let count = |html: &str| {
        html.matches("data-action=\"service_account.created\"")
            .count()
    };

    // Who: part of a name or email, any case, or an account id.
    let bobs = b
        .get("/t/acme/team/audit-log?who=BOB%40example")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(count(&bobs), 3, "Bob's three");
    assert!(
        bobs.contains("value=\"BOB@example\""),
        "the box keeps what was typed"
    );
    let by_id = b
        .get(&format!("/t/acme/team/audit-log?who={bob}"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(count(&by_id), 3);
    assert!(
        by_id.contains(&format!("?who={bob}")),
        "each actor links to what they alone did"
    );

    // Days, both ends included, with who and action; kept by the Older link.
    let url = format!(
        "/t/acme/team/audit-log?who=ada&from={first_day}&to={first_day}&action=service_account.created"
    );
    let first = b.get(&url).await.text().await.unwrap();
    assert_eq!(count(&first), 50, "a page of 50");
    assert!(first.contains("60 events"), "the total of the filter");
    assert!(first.contains(&format!("value=\"{first_day}\"")));
    let older = older_link(&first).expect("an Older link");
    for kept in [
        "who=ada".to_string(),
        format!("from={first_day}"),
        format!("to={first_day}"),
        "action=service_account.created".to_string(),
    ] {
        assert!(older.contains(&kept), "{kept} kept in {older}");
    }
    let rest = b.get(&older).await.text().await.unwrap();
    assert_eq!(count(&rest), 10, "the other 10 of that day");
    assert!(rest.contains("robot 000") && !rest.contains("robot 063"));

    let second = b
        .get(&format!(
            "/t/acme/team/audit-log?from={second_day}&action=service_account.created"
        ))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(count(&second), 5, "Bob's three and Ada's two");
    let nothing = b
        .get(&format!(
            "/t/acme/team/audit-log?to={}",
            first_day - Duration::days(1)
        ))
        .await
        .text()
        .await
        .unwrap();
    assert!(nothing.contains("id=\"no-audit-events\""));

    // Without JavaScript the form is a plain GET form with every filter.
    let plain = b.get("/t/acme/team/audit-log").await.text().await.unwrap();
    for field in [
        "name=\"who\"",
        "name=\"from\"",
        "name=\"to\"",
        "name=\"action\"",
        "name=\"q\"",
    ] {
        assert!(plain.contains(field), "{field}");
    }
    assert!(plain.contains("id=\"audit-filter\"") && plain.contains("method=\"get\""));

    // Bad dates say what to write.
    let bad = b.get("/t/acme/team/audit-log?from=28/11/2026").await;
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("must be a date such as"));
    // The first day there is: everything from then on, no overflow.
    let earliest = b.get("/t/acme/team/audit-log?from=-9999-01-01").await;
    assert_eq!(earliest.status(), 200);
    let reversed = b
        .get(&format!(
            "/t/acme/team/audit-log?from={second_day}&to={first_day}"
        ))
        .await;
    assert_eq!(reversed.status(), 400);
}
