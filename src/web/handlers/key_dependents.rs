//! What the revoke dialog of a key says depends on it (agents and clients of the last
//! 24 hours), for both the user's and a service account's keys.

use crate::error::HtmlError;
use crate::services::agents;
use crate::web::session::SignedIn;
use crate::web::views::KeyDependentsView;
use crate::web::AppState;

/// How many agents the dialog names; it counts the rest.
const NAMED: i64 = 5;

pub async fn key_dependents(
    state: &AppState,
    signed_in: &SignedIn,
    key_id: &str,
) -> Result<KeyDependentsView, HtmlError> {
    let (actor, key_id) = (signed_in.actor(), key_id.to_string());
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
