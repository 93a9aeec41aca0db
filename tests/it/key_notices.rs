//! Key notices by mail (issue 28), from outside with a real SMTP server
//! (`support::smtp`): expiry reminders found at start and sent once per key whatever
//! the number of instances; "a new API key was added to your account"; each kind turned
//! off by its person, on the dashboard or through GraphQL.

use crate::backend_tests;
use crate::support::browser::Browser;
use crate::support::smtp::{mail_through, outbox, Mail, MailWorld, ReceivedMail};
use crate::support::{client, eventually, Backend, Seeded, TestApp};
use keyward::db::models::key_notice::KeyReminder;
use keyward::domain::Role;
use keyward::services::mail::MailKind;
use serde_json::{json, Value};
use time::Duration;

backend_tests!(
    a_key_expiring_in_three_days_gets_a_reminder_naming_it_within_a_minute_of_start,
    a_new_key_brings_its_owner_a_notice_naming_it_its_team_and_where_it_was_made,
    a_rotated_key_brings_its_owner_a_notice_naming_the_key_it_replaces,
    a_service_account_key_is_noticed_to_the_tenant_admins,
    turning_a_kind_off_on_the_notifications_page_stops_it,
    a_key_cannot_turn_a_notice_off_and_every_change_is_audited,
    two_instances_send_one_reminder_per_key,
);

const GRACE: &str = "grace@example.com";

struct People {
    grace: Seeded,
    /// Grace's own full key.
    key: String,
}

async fn with_grace(app: &TestApp, tenant: &Seeded) -> People {
    let grace = app.create_person(GRACE, &tenant.id, Role::User).await;
    let (_, key) = app.create_key(&grace.id, &tenant.id, None).await;
    People { grace, key }
}

type World = MailWorld<People>;

async fn world(backend: Backend, mail: Mail) -> Option<World> {
    MailWorld::start(backend, mail, None, |_| {}, with_grace).await
}

async fn graphql(app: &TestApp, key: &str, query: &str, variables: Value) -> Value {
    let res = client()
        .post(format!("{}/graphql", app.address))
        .bearer_auth(key)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    res.json().await.expect("a JSON answer")
}

/// A key of `account` expiring `in_` from now, made by an operator; (id, name).
async fn key_expiring(
    app: &TestApp,
    account: &str,
    tenant: &str,
    in_: Duration,
) -> (String, String) {
    let (id, _) = app
        .create_key(account, tenant, Some(app.clock.now() + in_))
        .await;
    let name = app
        .read({
            let id = id.clone();
            move |conn| Ok(keyward::db::models::ApiKey::find(conn, &id)?.unwrap().name)
        })
        .await;
    (id, name)
}

fn of_kind(mails: Vec<ReceivedMail>, kind: MailKind) -> Vec<ReceivedMail> {
    mails
        .into_iter()
        .filter(|m| m.subject == kind.subject())
        .collect()
}

/// Waits (at most a minute) for `n` mails of `kind` at the sink.
async fn wait_for(w: &World, kind: MailKind, n: usize) -> Vec<ReceivedMail> {
    eventually(&format!("{n} mail(s) \"{}\"", kind.subject()), || {
        let found = of_kind(w.sink().mails(), kind);
        std::future::ready((found.len() >= n).then_some(found))
    })
    .await
}

/// The reminder rows of a key.
async fn reminders_of(app: &TestApp, key_id: &str) -> Vec<KeyReminder> {
    use diesel::prelude::*;
    let key_id = key_id.to_string();
    app.read(move |conn| {
        keyward::db::schema::key_reminders::table
            .filter(keyward::db::schema::key_reminders::api_key_id.eq(key_id))
            .select(KeyReminder::as_select())
            .load(conn)
    })
    .await
}

async fn a_key_expiring_in_three_days_gets_a_reminder_naming_it_within_a_minute_of_start(
    backend: Backend,
) {
    let Some(w) = world(backend, Mail::SinkOnly).await else {
        return;
    };
    let (_, name) = key_expiring(&w.app, &w.grace.id, &w.tenant.id, Duration::days(3)).await;
    let (_, never) = key_expiring(&w.app, &w.grace.id, &w.tenant.id, Duration::days(30)).await;
    // An instance with mail starts: its first pass is at start.
    let _b = w.app.another_instance(|s| mail_through(s, w.sink(), None));
    let mails = wait_for(&w, MailKind::KeyExpiring, 1).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    let mail = &mails[0];
    assert_eq!(mail.rcpt_tos, [GRACE]);
    assert!(mail.body.contains(&format!("“{name}”")), "{}", mail.body);
    assert!(mail.body.contains("“Tenant acme”"), "{}", mail.body);
    assert!(mail.body.contains("(in 3 days)"), "{}", mail.body);
    assert!(!mail.body.contains(&never), "{}", mail.body);
}

async fn a_new_key_brings_its_owner_a_notice_naming_it_its_team_and_where_it_was_made(
    backend: Backend,
) {
    let Some(w) = world(backend, Mail::On).await else {
        return;
    };
    let answer = graphql(
        &w.app,
        &w.key,
        "mutation($i: create_api_key_input!) { create_api_key(input: $i) { id } }",
        json!({ "i": { "user_id": w.grace.id, "name": "deploy bot" } }),
    )
    .await;
    assert!(answer["errors"].is_null(), "{answer}");
    // The seeding key (made by an operator) and this one.
    let mails = wait_for(&w, MailKind::KeyCreated, 2).await;
    let mail = mails
        .iter()
        .find(|m| m.body.contains("“deploy bot”"))
        .unwrap_or_else(|| panic!("no notice names the key: {mails:?}"));
    assert_eq!(mail.rcpt_tos, [GRACE]);
    assert!(
        mail.body.contains("Team:    “Tenant acme”"),
        "{}",
        mail.body
    );
    assert!(
        mail.body
            .contains("through the API with the key “test key” (kwu_"),
        "{}",
        mail.body
    );
    assert!(mail.body.contains("from 127.0.0.1"), "{}", mail.body);
    assert!(mail.body.contains("Expires: never"), "{}", mail.body);
    // No secret in the mail, nor anything but the hint.
    assert!(!mail.body.contains(&w.key), "{}", mail.body);
}

async fn a_rotated_key_brings_its_owner_a_notice_naming_the_key_it_replaces(backend: Backend) {
    let Some(w) = world(backend, Mail::Off).await else {
        return;
    };
    let (old_id, old_name) =
        key_expiring(&w.app, &w.grace.id, &w.tenant.id, Duration::days(30)).await;
    assert_eq!(queued_to(&w.app, MailKind::KeyCreated, GRACE).await, 2);
    let answer = graphql(
        &w.app,
        &w.key,
        "mutation($i: rotate_api_key_input!) { rotate_api_key(input: $i) { id } }",
        json!({ "i": { "key_id": old_id, "overlap_hours": 1 } }),
    )
    .await;
    assert!(answer["errors"].is_null(), "{answer}");
    let rows: Vec<_> = outbox(&w.app)
        .await
        .into_iter()
        .filter(|r| r.kind == MailKind::KeyCreated.as_str() && r.recipient == GRACE)
        .collect();
    assert_eq!(rows.len(), 3, "{rows:?}");
    let notice = rows
        .iter()
        .find(|r| r.payload.contains(", rotated from "))
        .unwrap_or_else(|| panic!("no notice of the rotation: {rows:?}"));
    assert!(
        notice
            .payload
            .contains(&format!("rotated from “{old_name}” (kwu_")),
        "{}",
        notice.payload
    );
}

async fn a_service_account_key_is_noticed_to_the_tenant_admins(backend: Backend) {
    let Some(w) = world(backend, Mail::On).await else {
        return;
    };
    let admin = w
        .app
        .create_person("ada@example.com", &w.tenant.id, Role::Admin)
        .await;
    let robot = w.app.create_service_account(&w.tenant.id, "ci robot").await;
    w.app.create_key(&robot.id, &w.tenant.id, None).await;
    let mails = wait_for(&w, MailKind::KeyCreated, 2).await;
    let to_ada: Vec<_> = mails
        .iter()
        .filter(|m| m.rcpt_tos == ["ada@example.com"])
        .collect();
    assert_eq!(to_ada.len(), 1, "{mails:?}");
    assert!(
        to_ada[0].body.contains("the service account “ci robot”"),
        "{}",
        to_ada[0].body
    );
    assert!(to_ada[0]
        .body
        .contains("by an operator at the command line"));
    // Grace (a USER of the tenant) is not told about the tenant's service accounts.
    assert_eq!(
        mails.iter().filter(|m| m.rcpt_tos == [GRACE]).count(),
        1,
        "only her own key's notice: {mails:?}"
    );
    let _ = admin;
}

/// Notice rows of `kind` queued to `to` so far.
async fn queued_to(app: &TestApp, kind: MailKind, to: &str) -> usize {
    outbox(app)
        .await
        .iter()
        .filter(|r| r.kind == kind.as_str() && r.recipient == to)
        .count()
}

async fn turning_a_kind_off_on_the_notifications_page_stops_it(backend: Backend) {
    let Some(w) = world(backend, Mail::Off).await else {
        return;
    };
    assert_eq!(queued_to(&w.app, MailKind::KeyCreated, GRACE).await, 1);
    let browser = Browser::new(&w.app);
    let csrf = browser.sign_in(GRACE).await;
    let page = browser.text("/user/notifications").await;
    assert!(page.contains("notification-key_created-off"), "{page}");
    let res = browser
        .post(
            "/user/notifications",
            &[
                ("csrf_token", &csrf),
                ("kind", "key_created"),
                ("enabled", "false"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let page = browser.text("/user/notifications").await;
    assert!(page.contains("notification-key_created-on"), "{page}");
    assert!(page.contains("notification-key_expiring-off"), "{page}");

    // The notice is queued (or not) in the key's own transaction: nothing more is queued.
    w.app.create_key(&w.grace.id, &w.tenant.id, None).await;
    assert_eq!(queued_to(&w.app, MailKind::KeyCreated, GRACE).await, 1);

    // Bad input is a clear refusal, not a 500.
    let res = browser
        .post(
            "/user/notifications",
            &[
                ("csrf_token", &csrf),
                ("kind", "everything"),
                ("enabled", "false"),
            ],
        )
        .await;
    assert_eq!(res.status(), 400);

    // On again: the next key is noticed.
    browser
        .post(
            "/user/notifications",
            &[
                ("csrf_token", &csrf),
                ("kind", "key_created"),
                ("enabled", "true"),
            ],
        )
        .await;
    w.app.create_key(&w.grace.id, &w.tenant.id, None).await;
    assert_eq!(queued_to(&w.app, MailKind::KeyCreated, GRACE).await, 2);
}

async fn audited_changes(app: &TestApp) -> Vec<String> {
    use diesel::prelude::*;
    app.read(|conn| {
        use keyward::db::schema::audit_events::dsl;
        dsl::audit_events
            .filter(dsl::action.eq("notification.changed"))
            .select(dsl::detail)
            .load::<String>(conn)
    })
    .await
}

async fn a_key_cannot_turn_a_notice_off_and_every_change_is_audited(backend: Backend) {
    let Some(w) = world(backend, Mail::SinkOnly).await else {
        return;
    };
    const SET: &str = "mutation($on: Boolean!) { set_notification(input: { kind: KEY_CREATED, enabled: $on }) { kind enabled } }";
    // A stolen key cannot silence the notice of the keys it makes.
    let answer = graphql(&w.app, &w.key, SET, json!({ "on": false })).await;
    let error = answer["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(error.contains("turned off on the dashboard"), "{answer}");
    assert!(audited_changes(&w.app).await.is_empty());
    // Turned off in a dashboard session, then on again with the key: both audited.
    let browser = Browser::new(&w.app);
    let csrf = browser.sign_in(GRACE).await;
    let res = browser
        .post(
            "/user/notifications",
            &[
                ("csrf_token", &csrf),
                ("kind", "key_created"),
                ("enabled", "false"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let answer = graphql(&w.app, &w.key, SET, json!({ "on": true })).await;
    assert_eq!(
        answer["data"]["set_notification"],
        json!([{ "kind": "KEY_CREATED", "enabled": true }, { "kind": "KEY_EXPIRING", "enabled": true }]),
        "{answer}"
    );
    // Setting what is already set changes nothing and records nothing.
    graphql(&w.app, &w.key, SET, json!({ "on": true })).await;
    let changes = audited_changes(&w.app).await;
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(
        changes.iter().any(|d| d.ends_with("turned off")),
        "{changes:?}"
    );
    assert!(
        changes.iter().any(|d| d.ends_with("turned on")),
        "{changes:?}"
    );
}

async fn two_instances_send_one_reminder_per_key(backend: Backend) {
    let Some(w) = world(backend, Mail::SinkOnly).await else {
        return;
    };
    let mut keys = Vec::new();
    for i in 0..8 {
        let person = w
            .app
            .create_person(&format!("p{i}@example.com"), &w.tenant.id, Role::User)
            .await;
        for in_ in [Duration::hours(12), Duration::days(3), Duration::days(6)] {
            keys.push(key_expiring(&w.app, &person.id, &w.tenant.id, in_).await.0);
        }
    }
    // Two instances with mail start together on the one database: both pass at start.
    let b = w.app.another_instance(|s| mail_through(s, w.sink(), None));
    let c = w.app.another_instance(|s| mail_through(s, w.sink(), None));
    let mails = wait_for(&w, MailKind::KeyExpiring, keys.len()).await;
    // Every reminder row is there and every outbox row is done: what the sink holds is final.
    eventually("every reminder sent", || async {
        let rows = outbox(&w.app).await;
        let reminders: Vec<_> = rows
            .iter()
            .filter(|r| r.kind == MailKind::KeyExpiring.as_str())
            .collect();
        (reminders.len() == keys.len() && reminders.iter().all(|r| r.status == "sent"))
            .then_some(())
    })
    .await;
    let mails_now = of_kind(w.sink().mails(), MailKind::KeyExpiring);
    assert_eq!(
        mails_now.len(),
        keys.len(),
        "one reminder per key: {mails:?}"
    );
    for id in &keys {
        let rows = reminders_of(&w.app, id).await;
        assert_eq!(rows.len(), 1, "{rows:?}");
    }
    drop((b, c));
}
