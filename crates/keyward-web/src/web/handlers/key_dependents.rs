//! The revoke dialog of a key, for both the user's and a service account's keys: what
//! depends on the key (agents and clients of the last 24 hours) and what it made.

use crate::domain::ApiKeyId;
use crate::error::HtmlError;
use crate::services::agents;
use crate::web::handlers::form_answer::FormAnswer;
use crate::web::handlers::key_lifecycle::descendants_note;
use crate::web::session::SignedIn;
use crate::web::views::{ApiKeyDeletePage, ApiKeyDeletePartial, KeyDependentsView, KeyRow};
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;

/// How many agents the dialog names; it counts the rest.
const NAMED: i64 = 5;

pub async fn key_dependents(
    state: &AppState,
    signed_in: &SignedIn,
    key_id: &ApiKeyId,
) -> Result<KeyDependentsView, HtmlError> {
    let (actor, key_id) = (signed_in.actor(), key_id.clone());
    let (dependents, now) = state
        .run(move |conn, now| {
            Ok((
                agents::dependents_of_key(conn, &actor, now, &key_id, NAMED)?,
                now,
            ))
        })
        .await?;
    Ok(KeyDependentsView::of(&dependents, now))
}

/// The confirmation naming `key` (posting to its `delete_url`), with what depends on it
/// and what it made; "Cancel" leads to `back_url` without JavaScript.
pub(crate) async fn delete_dialog(
    answer: &FormAnswer<'_>,
    state: &AppState,
    signed_in: &SignedIn,
    key: KeyRow,
    back_url: String,
) -> Result<HttpResponse, HtmlError> {
    let dependents = key_dependents(state, signed_in, &key.id).await?;
    let descendants = descendants_note(state, signed_in, &key.id).await;
    let dialog = ApiKeyDeletePartial {
        key,
        descendants,
        csrf_token: signed_in.csrf_token.clone(),
        back_url,
        dependents,
    };
    answer.show(
        StatusCode::OK,
        "Delete an API key",
        dialog,
        |dialog| dialog,
        |layout, d| ApiKeyDeletePage {
            layout,
            key: d.key,
            descendants: d.descendants,
            csrf_token: d.csrf_token,
            back_url: d.back_url,
            dependents: d.dependents,
        },
    )
}
