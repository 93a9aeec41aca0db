//! `GET /metrics`: off (404) by default, 401 without the right token, and then the
//! counters move with the requests made. The registry is the process's, shared by the
//! tests running beside this one, so every check is on a difference of at least what
//! this test did.

use crate::backend_tests;
use crate::support::{Backend, TestApp};
use keyward::config::MetricsToken;
use keyward::domain::{PlainToken, Role, TokenKind};

pub(crate) const TOKEN: &str = "metrics-token-for-the-tests-0123456789";

/// The value of the sample `name{labels…}` holding every one of `labels`; 0 when absent.
pub(crate) fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.split(['{', ' '])
                .next()
                .is_some_and(|metric| metric == name)
        })
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

pub(crate) async fn scrape(app: &TestApp) -> String {
    let res = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    res.text().await.unwrap()
}

async fn metrics_are_off_unless_a_token_is_set(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let res = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        404,
        "a token must not turn them on per request"
    );
}

async fn metrics_need_the_token_and_count_requests_by_route_pattern(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.metrics_token = Some(MetricsToken::parse(TOKEN).unwrap())
    })
    .await;
    for auth in [None, Some("Bearer not-the-token-at-all-0000"), Some(TOKEN)] {
        let mut req = app.client.get(app.url("/metrics"));
        if let Some(value) = auth {
            req = req.header("Authorization", value);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401, "{auth:?}");
        assert!(res.headers().contains_key("www-authenticate"));
    }

    let tenant = app.create_tenant("acme").await;
    let person = app
        .create_person("ada@example.com", &tenant.id, Role::Admin)
        .await;
    let (_, key) = app.create_key(&person.id, &tenant.id, None).await;
    let before = scrape(&app).await;

    for _ in 0..3 {
        assert_eq!(app.get_with_key("/api/whoami", &key).await.status(), 200);
    }
    assert_eq!(
        app.get_with_key("/api/whoami", "not-a-key").await.status(),
        401
    );
    let unknown = PlainToken::generate(TokenKind::User);
    assert_eq!(
        app.get_with_key("/api/whoami", unknown.expose_secret())
            .await
            .status(),
        401
    );
    let created = app
        .graphql(
            Some(&key),
            "mutation($input: create_api_key_input!) { create_api_key(input: $input) { id } }",
            serde_json::json!({ "input": { "user_id": person.id, "name": "counted" } }),
            &[],
        )
        .await;
    assert!(
        created["data"]["create_api_key"]["id"].is_string(),
        "{created}"
    );
    let page = app
        .client
        .get(app.url("/t/acme/team/service-accounts"))
        .send()
        .await
        .unwrap();
    assert!(page.status().is_redirection());

    let after = scrape(&app).await;
    let grew = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) - sample(&before, name, labels)
    };
    let whoami_ok = [
        ("route", "/api/whoami"),
        ("method", "GET"),
        ("status", "200"),
    ];
    assert!(
        grew("keyward_http_requests_total", &whoami_ok) >= 3.0,
        "{after}"
    );
    assert!(
        grew(
            "keyward_http_request_duration_seconds_count",
            &[("route", "/api/whoami")]
        ) >= 5.0
    );
    assert!(
        grew(
            "keyward_http_requests_total",
            &[
                ("route", "/t/{slug}/team/service-accounts"),
                ("method", "GET")
            ]
        ) >= 1.0,
        "{after}"
    );
    assert!(
        !after.contains("/t/acme"),
        "a raw path is in the metrics: {after}"
    );
    for reason in ["malformed", "unknown_or_revoked"] {
        assert!(
            grew("keyward_auth_failures_total", &[("reason", reason)]) >= 1.0,
            "{reason}: {after}"
        );
    }
    assert!(grew("keyward_api_keys_created_total", &[]) >= 1.0);
    for state in ["idle", "in_use"] {
        assert!(
            after.contains(&format!("keyward_db_pool_connections{{state=\"{state}\"}}")),
            "{after}"
        );
    }
    for name in [
        "keyward_api_keys_revoked_total",
        "keyward_sign_in_failures_total",
    ] {
        assert!(after.contains(&format!("# TYPE {name} counter")), "{name}");
    }
    assert!(!after.contains(&key), "a key is in the metrics");
}

/// Issue 23.11: a token given as a flag's value shows in `ps`; it comes from a file
/// (or the environment) instead, and the old flag is refused with what to use.
async fn the_metrics_token_comes_from_a_file_and_never_from_a_flag(backend: Backend) {
    use crate::support::{ServerProcess, TestDb};
    let db = TestDb::new(backend);
    let dir =
        std::env::temp_dir().join(format!("keyward-metrics-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = db.url.clone();
    let refused = tokio::task::spawn_blocking(move || {
        ServerProcess::start(
            &std::env::temp_dir(),
            &["serve", "--database-url", &url, "--metrics-token", TOKEN],
            &[],
        )
        .map(|_| ())
    })
    .await
    .unwrap();
    let (code, output) = refused.expect_err("--metrics-token must be refused");
    assert_ne!(code, 0);
    assert!(
        output.contains("--metrics-token-file") && output.contains("ps"),
        "{output}"
    );
    assert!(
        !output.contains(TOKEN),
        "the token is not repeated: {output}"
    );

    let path = dir.join("metrics-token");
    std::fs::write(&path, format!("{TOKEN}\n")).unwrap();
    let (url, file) = (db.url.clone(), path.display().to_string());
    let server = tokio::task::spawn_blocking(move || {
        ServerProcess::serve(&url, &[("KEYWARD_METRICS_TOKEN_FILE", file.as_str())])
    })
    .await
    .unwrap();
    let res = crate::support::client()
        .get(server.url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

backend_tests!(
    metrics_are_off_unless_a_token_is_set,
    metrics_need_the_token_and_count_requests_by_route_pattern,
    the_metrics_token_comes_from_a_file_and_never_from_a_flag,
);
