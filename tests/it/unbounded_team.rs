//! Nothing unbounded, on the team lists: Team › Service Accounts, Members, pending
//! invitations and the audit log show 50 rows a page with Newer/Older links, the total
//! and a search, on the dashboard and through GraphQL (limit/offset/order_by/where and
//! `_aggregate`); nested lists are read in one query per level.

use crate::backend_tests;
use crate::support::browser::Browser;
use crate::support::{Backend, Seeded, TestApp};
use diesel::connection::SimpleConnection;
use keyward::domain::Role;
use serde_json::{json, Value};

pub(crate) const SERVICE_ACCOUNTS: usize = 120;
pub(crate) const PEOPLE: usize = 120;
pub(crate) const INVITATIONS: usize = 60;
pub(crate) const EVENTS: usize = 2_500;

/// Rows written straight into the tables, a second apart in 2025 (older than anything a
/// test makes): service accounts `robot {i:03}` (each with `i % 3` keys), people
/// `person {i:03}` <p{i:03}@example.com> as USER, pending invitations, and audit events
/// `seeded event {i}` (every tenth `api_key.revoked`, the rest `api_key.created`).
pub(crate) async fn seed_team(app: &TestApp, tenant_id: &str, admin_id: &str) {
    let (t, admin) = (tenant_id.to_string(), admin_id.to_string());
    app.run(move |conn, _| {
        let at = |i: usize| {
            let start = time::macros::datetime!(2025-01-01 00:00:00);
            let format =
                time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
            (start + time::Duration::seconds(i as i64)).format(&format).unwrap()
        };
        let id = || uuid::Uuid::new_v4().to_string();
        let mut sql = Vec::new();
        for i in 0..SERVICE_ACCOUNTS {
            let sa = id();
            sql.push(format!(
                "INSERT INTO accounts (id, account_type, name, tenant_id, created_at, created_by) VALUES ('{sa}', 'SERVICE_ACCOUNT', 'robot {i:03}', '{t}', '{}', '{admin}');
                 INSERT INTO memberships (account_id, tenant_id, role, created_at) VALUES ('{sa}', '{t}', 'ADMIN', '{}');",
                at(i),
                at(i)
            ));
            for k in 0..i % 3 {
                sql.push(format!(
                    "INSERT INTO api_keys (id, account_id, tenant_id, name, token_digest, display_hint, created_at) VALUES ('{}', '{sa}', '{t}', 'robot key {k}', 'seeded-{}', 'kwu_…', '{}');",
                    id(),
                    uuid::Uuid::new_v4().simple(),
                    at(i)
                ));
            }
        }
        for i in 0..PEOPLE {
            let p = id();
            sql.push(format!(
                "INSERT INTO accounts (id, account_type, name, email, created_at) VALUES ('{p}', 'USER', 'person {i:03}', 'p{i:03}@example.com', '{}');
                 INSERT INTO memberships (account_id, tenant_id, role, created_at) VALUES ('{p}', '{t}', 'USER', '{}');",
                at(i),
                at(i)
            ));
        }
        for i in 0..INVITATIONS {
            sql.push(format!(
                "INSERT INTO invitations (id, token_digest, tenant_id, role, created_by, created_at, expires_at) VALUES ('{}', 'seeded-{}', '{t}', 'USER', '{admin}', '{}', '2999-01-01 00:00:00');",
                id(),
                uuid::Uuid::new_v4().simple(),
                at(i)
            ));
        }
        for chunk in (0..EVENTS).collect::<Vec<_>>().chunks(500) {
            let rows: Vec<String> = chunk
                .iter()
                .map(|i| {
                    let action = if i % 10 == 0 { "api_key.revoked" } else { "api_key.created" };
                    format!(
                        "('{}', '{t}', '{admin}', '{action}', 'seeded event {i}', '{}')",
                        id(),
                        at(*i)
                    )
                })
                .collect();
            sql.push(format!(
                "INSERT INTO audit_events (id, tenant_id, actor_id, action, detail, at) VALUES {};",
                rows.join(", ")
            ));
        }
        conn.batch_execute(&sql.join("\n"))?;
        Ok(())
    })
    .await
    .expect("seeded team");
}

pub(crate) async fn team_with_lists(backend: Backend) -> (TestApp, Seeded, Seeded) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("busy").await;
    let admin = app
        .create_person("admin@example.com", &t.id, Role::Admin)
        .await;
    seed_team(&app, &t.id, &admin.id).await;
    (app, t, admin)
}

fn href_of(html: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\"");
    html.contains(&marker).then(|| {
        html.split(&marker)
            .next()
            .unwrap()
            .rsplit("href=\"")
            .next()
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .replace("&amp;", "&")
            .replace("&#38;", "&")
    })
}

/// The value of `attr="…"` on every row that has it, in page order.
fn values_of(html: &str, attr: &str) -> Vec<String> {
    html.split(&format!("{attr}=\""))
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_string())
        .collect()
}

/// Follows Older links from `first` to the end: every page's rows (by `attr`), then Newer
/// links back from the last page, which must give the same pages.
async fn walk(b: &Browser, first: &str, attr: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut url = first.to_string();
    let mut html;
    loop {
        let res = b.get(&url).await;
        assert_eq!(res.status(), 200, "{url}");
        html = res.text().await.unwrap();
        pages.push(values_of(&html, attr));
        match href_of(&html, &format!("{prefix}-older")) {
            Some(next) => url = next,
            None => break,
        }
        assert!(pages.len() <= 100, "the pages end");
    }
    let mut back = vec![pages.last().unwrap().clone()];
    while let Some(newer) = href_of(&html, &format!("{prefix}-newer")) {
        html = b.get(&newer).await.text().await.unwrap();
        back.push(values_of(&html, attr));
    }
    back.reverse();
    assert_eq!(back, pages, "Newer leads back through the same pages");
    pages
}

fn all_distinct(pages: &[Vec<String>]) -> usize {
    let mut all: Vec<&String> = pages.iter().flatten().collect();
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "no row twice");
    n
}

async fn team_lists_show_fifty_a_page_with_totals_search_and_working_links(backend: Backend) {
    let (app, _, _) = team_with_lists(backend).await;
    let b = Browser::new(&app);
    b.sign_in("admin@example.com").await;

    // Service accounts: newest first, 50 a page, the total, every one reached once.
    let first = b
        .get("/t/busy/team/service-accounts")
        .await
        .text()
        .await
        .unwrap();
    assert!(first.contains("120 service accounts"), "the total");
    assert!(!first.contains("id=\"service-accounts-newer\""));
    let pages = walk(
        &b,
        "/t/busy/team/service-accounts",
        "data-service-account-id",
        "service-accounts",
    )
    .await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [50, 50, 20]);
    assert_eq!(all_distinct(&pages), SERVICE_ACCOUNTS);
    assert!(
        first.find("robot 119").unwrap() < first.find("robot 118").unwrap(),
        "newest first"
    );
    let found = b
        .get("/t/busy/team/service-accounts?q=ROBOT+01")
        .await
        .text()
        .await
        .unwrap();
    assert!(found.contains("10 service accounts"), "robot 010 to 019");
    assert_eq!(values_of(&found, "data-service-account-id").len(), 10);
    let none = b
        .get("/t/busy/team/service-accounts?q=nobody")
        .await
        .text()
        .await
        .unwrap();
    assert!(none.contains("0 service accounts") && none.contains("no-service-accounts-found"));
    // A search is kept by the links.
    let wide = b
        .get("/t/busy/team/service-accounts?q=robot")
        .await
        .text()
        .await
        .unwrap();
    assert!(href_of(&wide, "service-accounts-older")
        .unwrap()
        .contains("q=robot"));

    // Members: the admin and 120 people and 120 service accounts; search by name or email.
    let members = b.get("/t/busy/team/members").await.text().await.unwrap();
    assert!(members.contains("241 members"), "the total");
    let pages = walk(&b, "/t/busy/team/members", "data-account-id", "members").await;
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        [50, 50, 50, 50, 41]
    );
    assert_eq!(all_distinct(&pages), 241);
    let by_email = b
        .get("/t/busy/team/members?q=P007%40EXAMPLE")
        .await
        .text()
        .await
        .unwrap();
    assert!(by_email.contains("1 member<"), "one match by email");
    assert!(by_email.contains("person 007"));
    let by_name = b
        .get("/t/busy/team/members?q=person+1")
        .await
        .text()
        .await
        .unwrap();
    assert!(by_name.contains("20 members"), "person 100 to 119");

    // Pending invitations: their own total and pages on the members page.
    assert!(members.contains("60 pending invitations"));
    let pages = walk(
        &b,
        "/t/busy/team/members",
        "data-invitation-id",
        "invitations",
    )
    .await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [50, 10]);
    assert_eq!(all_distinct(&pages), INVITATIONS);

    // The audit log: keyset pages, the action filter and a search, both kept by the links.
    let log = b.get("/t/busy/team/audit-log").await.text().await.unwrap();
    let total = EVENTS + 3; // and the tenant's creation, the admin joining and signing in
    assert!(
        log.contains(&format!("{},{:03} events", total / 1000, total % 1000)),
        "the total"
    );
    let revoked = "/t/busy/team/audit-log?action=api_key.revoked";
    let pages = walk(&b, revoked, "data-action", "audit").await;
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        [50, 50, 50, 50, 50]
    );
    assert!(pages.iter().flatten().all(|a| a == "api_key.revoked"));
    let searched = b
        .get("/t/busy/team/audit-log?q=event+249&action=api_key.created")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        searched.contains("10 events"),
        "seeded event 2490 to 2499 but 2490"
    );
    assert!(!searched.contains("seeded event 2490<"));
    let deep = b
        .get("/t/busy/team/audit-log?q=seeded")
        .await
        .text()
        .await
        .unwrap();
    let older = href_of(&deep, "audit-older").unwrap();
    assert!(older.contains("q=seeded"), "{older}");
}

fn count_of(answer: &Value, field: &str) -> i64 {
    answer["data"][field]["aggregate"]["count"]
        .as_i64()
        .unwrap_or_else(|| panic!("no {field} count in {answer}"))
}

fn rows<'a>(answer: &'a Value, field: &str) -> &'a Vec<Value> {
    answer["data"][field]
        .as_array()
        .unwrap_or_else(|| panic!("no {field} in {answer}"))
}

fn refused_above_the_maximum(answer: &Value) {
    assert_eq!(answer["data"], Value::Null, "{answer}");
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{answer}"
    );
    let message = answer["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("1000"), "{message}");
}

async fn team_lists_answer_graphql_hasura_style(backend: Backend) {
    let (app, t, admin) = team_with_lists(backend).await;
    let (_, key) = app.create_key(&admin.id, &t.id, None).await;

    // Service accounts: at most 1,000 rows without a limit; limit/offset; where; aggregate.
    let all = app
        .gql(&key, "{ service_accounts { id name key_count } }")
        .await;
    assert_eq!(rows(&all, "service_accounts").len(), SERVICE_ACCOUNTS);
    assert_eq!(
        all["data"]["service_accounts"][0]["name"], "robot 119",
        "newest first"
    );
    assert_eq!(all["data"]["service_accounts"][0]["key_count"], 119 % 3);
    let page = app
        .gql(&key, "{ service_accounts(limit: 10, offset: 20) { id } }")
        .await;
    let ids = |v: &[Value]| v.iter().map(|r| r["id"].clone()).collect::<Vec<_>>();
    assert_eq!(
        ids(rows(&page, "service_accounts")),
        ids(&rows(&all, "service_accounts")[20..30])
    );
    let by_name = app.gql(&key, r#"{ service_accounts(where: {name: {_ilike: "ROBOT 00%"}}, order_by: {name: asc}, limit: 3) { name } }"#).await;
    assert_eq!(
        by_name["data"]["service_accounts"],
        json!([{"name": "robot 000"}, {"name": "robot 001"}, {"name": "robot 002"}])
    );
    let count = app.gql(&key, r#"{ a: service_accounts_aggregate { aggregate { count } } b: service_accounts_aggregate(where: {name: {_ilike: "%robot 01%"}}) { aggregate { count } } }"#).await;
    assert_eq!(count_of(&count, "a"), SERVICE_ACCOUNTS as i64);
    assert_eq!(count_of(&count, "b"), 10);
    refused_above_the_maximum(
        &app.gql(&key, "{ service_accounts(limit: 1001) { id } }")
            .await,
    );

    // Members: role and account type filters, name or email.
    let members = app
        .gql(
            &key,
            r#"{
        all: members_aggregate { aggregate { count } }
        users: members_aggregate(where: {role: {_eq: "USER"}}) { aggregate { count } }
        robots: members_aggregate(where: {account_type: SERVICE_ACCOUNT}) { aggregate { count } }
        found: members(where: {name: {_ilike: "%p042@%"}}) { name email }
        page: members(limit: 5, offset: 5, order_by: {name: asc}) { name }
    }"#,
        )
        .await;
    assert_eq!(count_of(&members, "all"), 241);
    assert_eq!(count_of(&members, "users"), PEOPLE as i64);
    assert_eq!(count_of(&members, "robots"), SERVICE_ACCOUNTS as i64);
    assert_eq!(
        members["data"]["found"],
        json!([{"name": "person 042", "email": "p042@example.com"}])
    );
    assert_eq!(rows(&members, "page").len(), 5);
    assert_eq!(
        members["data"]["page"][0]["name"], "person 004",
        "admin, then person 000…"
    );
    let bad_role = app
        .gql(
            &key,
            r#"{ members(where: {role: {_eq: "OWNER"}}) { name } }"#,
        )
        .await;
    assert_eq!(
        bad_role["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{bad_role}"
    );
    refused_above_the_maximum(&app.gql(&key, "{ members(limit: 5000) { name } }").await);

    // Invitations.
    let invitations = app.gql(&key, "{ invitations(limit: 7) { id created_by_name } invitations_aggregate { aggregate { count } } }").await;
    assert_eq!(rows(&invitations, "invitations").len(), 7);
    assert_eq!(
        invitations["data"]["invitations"][0]["created_by_name"],
        "admin at example.com"
    );
    assert_eq!(
        count_of(&invitations, "invitations_aggregate"),
        INVITATIONS as i64
    );
    refused_above_the_maximum(&app.gql(&key, "{ invitations(limit: 1001) { id } }").await);

    // Audit events: limit/offset and where, page/per_page still work, and the aggregate.
    let events = app.gql(&key, r#"{
        page: audit_events(limit: 10, offset: 5, where: {action: {_eq: "api_key.revoked"}}) { total events { action detail actor_name } }
        old: audit_events(per_page: 2, page: 3) { page per_page pages events { id } }
        searched: audit_events_aggregate(where: {detail: {_ilike: "%event 249%"}}) { aggregate { count } }
        revoked: audit_events_aggregate(where: {action: {_eq: "api_key.revoked"}}) { aggregate { count } }
    }"#).await;
    let page = &events["data"]["page"];
    assert_eq!(page["total"], 250, "{events}");
    assert_eq!(page["events"].as_array().unwrap().len(), 10);
    assert_eq!(
        page["events"][0]["detail"], "seeded event 2440",
        "newest first, after 5"
    );
    assert_eq!(page["events"][0]["actor_name"], "admin at example.com");
    assert_eq!(events["data"]["old"]["page"], 3);
    assert_eq!(events["data"]["old"]["events"].as_array().unwrap().len(), 2);
    assert_eq!(count_of(&events, "searched"), 11);
    assert_eq!(count_of(&events, "revoked"), 250);
    refused_above_the_maximum(
        &app.gql(&key, "{ audit_events(limit: 1001) { total } }")
            .await,
    );
}

/// How many statements `f` sends on one pooled connection.
async fn statements_of<T: Send + 'static>(
    app: &TestApp,
    f: impl FnOnce(&mut keyward::db::DbConnection) -> T + Send + 'static,
) -> (usize, T) {
    use diesel::connection::{Connection, InstrumentationEvent};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    app.run(move |conn, _| {
        let n = Arc::new(AtomicUsize::new(0));
        let counter = n.clone();
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if matches!(event, InstrumentationEvent::StartQuery { .. }) {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });
        let out = f(conn);
        conn.set_instrumentation(|_: InstrumentationEvent<'_>| {});
        Ok((n.load(Ordering::SeqCst), out))
    })
    .await
    .unwrap()
}

async fn nested_key_lists_cost_one_query_per_level_and_wide_requests_are_refused(backend: Backend) {
    use keyward::db::models::api_key_list::{KeyOrder, KeyPage, KeyWhere};
    let (app, t, admin) = team_with_lists(backend).await;
    let (_, key) = app.create_key(&admin.id, &t.id, None).await;

    // Through GraphQL: each service account gets its own page of its own keys.
    let nested = app.gql(&key, "{ service_accounts(limit: 120, order_by: {name: asc}) { name key_count first: api_keys(limit: 1) { name user_name } rest: api_keys(limit: 5, offset: 1) { name } } }").await;
    let accounts = rows(&nested, "service_accounts");
    assert_eq!(accounts.len(), SERVICE_ACCOUNTS, "{nested}");
    for (i, sa) in accounts.iter().enumerate() {
        let keys = i % 3;
        assert_eq!(sa["key_count"], keys as i64);
        assert_eq!(sa["first"].as_array().unwrap().len(), keys.min(1), "{sa}");
        assert_eq!(
            sa["rest"].as_array().unwrap().len(),
            keys.saturating_sub(1),
            "{sa}"
        );
        if keys > 0 {
            assert_eq!(sa["first"][0]["user_name"], sa["name"], "its own keys");
        }
    }

    // The batch behind it sends as many statements for 120 accounts as for 3.
    let all_ids = app
        .gql(&key, "{ service_accounts(limit: 120) { id } }")
        .await;
    let ids: Vec<String> = rows(&all_ids, "service_accounts")
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    let batch = |ids: Vec<String>| {
        let admin = admin.id.clone();
        move |conn: &mut keyward::db::DbConnection| {
            let actor = keyward::services::Actor::person(
                admin,
                None,
                keyward::services::SingleSignOn::Satisfied,
            );
            let page = KeyPage::Offset {
                limit: 5,
                offset: 0,
                order: KeyOrder::default(),
            };
            keyward::services::key_lists::keys_of_service_accounts(
                conn,
                &actor,
                &ids,
                &KeyWhere::default(),
                &page,
            )
            .map(|found| found.values().map(Vec::len).sum::<usize>())
            .unwrap()
        }
    };
    let (few, few_keys) = statements_of(&app, batch(ids[..3].to_vec())).await;
    let (many, many_keys) = statements_of(&app, batch(ids.clone())).await;
    assert_eq!(
        many_keys,
        (0..SERVICE_ACCOUNTS).map(|i| i % 3).sum::<usize>()
    );
    assert!(few_keys <= 6);
    assert!(few > 0);
    assert_eq!(
        few, many,
        "statements do not grow with the number of accounts"
    );

    // 160 aliases of a nested list are refused whole, before any work, saying why.
    let wide: Vec<String> = (0..160)
        .map(|i| format!("a{i}: service_accounts {{ api_keys {{ id }} }}"))
        .collect();
    let refused = app.gql(&key, &format!("{{ {} }}", wide.join(" "))).await;
    assert_eq!(refused["data"], Value::Null, "{refused}");
    assert_eq!(refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    // Within bounds the same aliases answer.
    let narrow: Vec<String> = (0..160)
        .map(|i| format!("a{i}: service_accounts(limit: 2) {{ api_keys(limit: 2) {{ id }} }}"))
        .collect();
    let answered = app.gql(&key, &format!("{{ {} }}", narrow.join(" "))).await;
    assert!(answered["errors"].is_null(), "{answered}");
    assert_eq!(answered["data"]["a159"].as_array().unwrap().len(), 2);
}

backend_tests!(
    team_lists_show_fifty_a_page_with_totals_search_and_working_links,
    team_lists_answer_graphql_hasura_style,
    nested_key_lists_cost_one_query_per_level_and_wide_requests_are_refused,
);
