//! GraphiQL in Chromium (points 14 and 17): it opens with a starting query and no error,
//! its Docs panel has the schema before any key is pasted, a pasted key is sent, and
//! axe-core finds no serious violation.

use super::Chrome;
use crate::support::{Backend, TestApp};
use keyward::domain::Role;

/// The text of GraphiQL's result pane (CodeMirror keeps it in its lines).
const RESULT: &str =
    "return (document.querySelector('.graphiql-response .CodeMirror') || {}).CodeMirror.getValue();";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_opens_with_its_schema_and_no_error_and_runs_with_a_pasted_key() {
    let Some(chrome) = Chrome::start().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let tenant = app.create_tenant("acme").await.id;
    let ada = app
        .create_person("ada@example.com", &tenant, Role::Admin)
        .await;
    let (_, key) = app.create_key(&ada.id, &tenant, None).await;
    let page = chrome.page(&app.address, true).await;
    page.goto("/graphql").await;
    page.until("GraphiQL", "document.querySelector('.graphiql-container')")
        .await;

    // The Docs panel shows the schema's root types without a key (point 17).
    page.click(".graphiql-sidebar button[aria-label='Show Documentation Explorer']")
        .await;
    page.until(
        "the schema in the Docs panel",
        "document.querySelector('.graphiql-doc-explorer-root-type') || document.querySelector('.graphiql-doc-explorer-error')",
    )
    .await;
    assert!(
        !page.exists(".graphiql-doc-explorer-error").await,
        "{}",
        page.text(".graphiql-doc-explorer").await
    );
    assert!(page
        .text(".graphiql-doc-explorer")
        .await
        .contains("mutation"));

    // Nothing in the result pane on arrival, and a starting query that says what to do
    // (point 14).
    let result = page.js(RESULT).await;
    assert_eq!(result.as_str().unwrap().trim(), "", "{result}");
    let query = page
        .js("return document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.getValue();")
        .await;
    let query = query.as_str().unwrap();
    assert!(
        query.contains("Paste it after \"Bearer \" in Headers") && query.contains("auth_info"),
        "{query}"
    );
    page.check("graphiql").await;

    // A way back to the dashboard, the key page linked, no link off-site, and the result
    // pane still there at 390 px (issue 31 point 9).
    assert_eq!(
        page.css("#graphiql-back")
            .await
            .attr("href")
            .await
            .unwrap()
            .as_deref(),
        Some("/user/api-keys")
    );
    assert!(page.exists("#graphiql-make-key").await);
    let offsite = page
        .js("return Array.from(document.querySelectorAll('a[href]')).filter(function (a) { return a.host && a.host !== location.host; }).map(function (a) { return a.href; }).join(' ');")
        .await;
    assert_eq!(offsite, serde_json::json!(""), "links off-site: {offsite}");
    // At 390 px the result pane stays usable with the Docs pane open as well as closed
    // (issue 31 point 9): wide enough to read, tall enough, on screen.
    let result_pane = "var r = document.querySelector('.graphiql-response').getBoundingClientRect(); return [Math.round(r.width), Math.round(r.height), r.right <= document.documentElement.clientWidth + 1, document.documentElement.scrollWidth <= document.documentElement.clientWidth];";
    page.client.set_window_size(390, 844).await.unwrap();
    page.until(
        "the narrow layout",
        "document.documentElement.clientWidth <= 400",
    )
    .await;
    assert!(
        page.exists(".graphiql-doc-explorer").await,
        "Docs still open"
    );
    let with_docs = page.js(result_pane).await;
    page.screenshot("graphiql-390-docs").await;
    page.click(".graphiql-sidebar button[aria-label='Hide Documentation Explorer']")
        .await;
    let without_docs = page.js(result_pane).await;
    page.screenshot("graphiql-390").await;
    page.client.set_window_size(1280, 900).await.unwrap();
    for (what, shown) in [
        ("with Docs open", with_docs),
        ("with Docs closed", without_docs),
    ] {
        assert!(
            shown[0].as_i64().unwrap() > 200
                && shown[1].as_i64().unwrap() > 100
                && shown[2] == serde_json::json!(true)
                && shown[3] == serde_json::json!(true),
            "the result pane at 390 px {what}: [width, height, on screen, no sideways scroll] = {shown}"
        );
    }

    // A key pasted in the Headers tab is sent: auth_info answers for Ada.
    page.js(&format!(
        "document.querySelector('.graphiql-editor-tool .graphiql-editor:nth-child(2) .CodeMirror').CodeMirror.setValue('{{\"Authorization\": \"Bearer {key}\"}}');"
    ))
    .await;
    page.click(".graphiql-execute-button").await;
    page.until(
        "the answer",
        &format!("({RESULT_FN})().indexOf('user_id') >= 0", RESULT_FN = "function () { var e = document.querySelector('.graphiql-response .CodeMirror'); return e ? e.CodeMirror.getValue() : ''; }"),
    )
    .await;
    let answer = page.js(RESULT).await;
    let answer: serde_json::Value = serde_json::from_str(answer.as_str().unwrap()).unwrap();
    assert_eq!(
        answer["data"]["auth_info"]["user_id"],
        serde_json::json!(ada.id)
    );
    assert!(answer["data"]["hello"].is_string(), "{answer}");
    page.close().await;
}
