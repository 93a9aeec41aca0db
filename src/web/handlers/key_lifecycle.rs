//! The key lifecycle on User › API Keys (issue 14): rotating one of your own keys (a
//! dialog asks for the overlap; the answer shows the new key once and says when the old
//! one stops), and what create dialogs share: the secret shown once, the tenant's policy.

use crate::domain::clock::rfc3339;
use crate::domain::KeyPolicy;
use crate::error::{AppError, HtmlError};
use crate::services::api_keys::CreatedApiKey;
use crate::services::key_policy;
use crate::services::key_rotation::{self, Overlap};
use crate::web::handlers::key_list::KeyListQuery;
use crate::web::handlers::user_api_keys::{created_key_dialog, own_key, own_keys};
use crate::web::htmx::{html, Htmx};
use crate::web::session::SignedIn;
use crate::web::views::{
    date_time, ApiKeyRotatePage, ApiKeyRotatePartial, CreatedKeyView, Layout, UserApiKeysPage,
};
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use time::PrimitiveDateTime;

const PATH: &str = "/user/api-keys";

/// The key policy of the tenant a create form is for (no limit when it cannot be read:
/// the service checks it again on submit).
pub(crate) async fn key_policy_of(
    state: &AppState,
    signed_in: &SignedIn,
    tenant_id: Option<String>,
) -> KeyPolicy {
    let Some(tenant_id) = tenant_id else {
        return KeyPolicy::default();
    };
    let actor = signed_in.actor();
    state
        .run(move |conn, _| key_policy::tenant_key_policy(conn, &actor, &tenant_id))
        .await
        .unwrap_or_default()
}

/// The secret shown once, after a creation or a rotation.
pub(crate) fn created_view(
    signed_in: &SignedIn,
    created: &CreatedApiKey,
    now: PrimitiveDateTime,
    done_url: &str,
    note: Option<String>,
) -> CreatedKeyView {
    let key = &created.key;
    CreatedKeyView {
        id: key.id.clone(),
        name: key.name.clone(),
        tenant_name: signed_in
            .person
            .tenants
            .iter()
            .find(|m| m.tenant.id == key.tenant_id)
            .map(|m| m.tenant.name.clone())
            .unwrap_or_default(),
        token: created.token.expose_secret().to_string(),
        expires: crate::web::views::expiry(key.expires_at, now),
        done_url: done_url.to_string(),
        note,
    }
}

#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct RotateInput {
    overlap_hours: String,
}

/// `GET /user/api-keys/{id}/rotate`: the dialog.
pub async fn rotate_form(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    key_id: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let key = own_key(&state, &signed_in, &key_id).await?;
    let action = format!("{PATH}/{}/rotate", key.id);
    let csrf_token = signed_in.csrf_token.clone();
    if hx.wants_partial() {
        return html(
            StatusCode::OK,
            &ApiKeyRotatePartial {
                key,
                action,
                csrf_token,
                back_url: PATH.into(),
            },
        );
    }
    html(
        StatusCode::OK,
        &ApiKeyRotatePage {
            layout: Layout::signed_in(&signed_in, "Rotate an API key", "api-keys"),
            key,
            action,
            csrf_token,
            back_url: PATH.into(),
        },
    )
}

/// `POST /user/api-keys/{id}/rotate`: the new key, shown once.
pub async fn rotate(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    key_id: web::Path<String>,
    input: web::Form<RotateInput>,
) -> Result<HttpResponse, HtmlError> {
    let overlap = input
        .overlap_hours
        .trim()
        .parse::<i32>()
        .map_err(|_| AppError::invalid("overlap_hours", "choose none, 1 hour, 24 hours or 7 days"))
        .and_then(|h| Overlap::hours(h).map_err(AppError::from))?;
    // Only your own keys here: someone else's answers 404, like an unknown id.
    let key = own_key(&state, &signed_in, &key_id).await?;
    let (actor, quotas) = (signed_in.actor(), state.settings.quotas);
    let (rotated, now) = state
        .run(move |conn, now| {
            let r =
                key_rotation::rotate_api_key(conn, &actor, now, &key.id, overlap, &quotas, None)?;
            Ok((r, now))
        })
        .await?;
    let note = format!(
        "The old key stops working at {} ({}).",
        date_time(rotated.old_key_expires_at),
        rfc3339(rotated.old_key_expires_at)
    );
    let view = created_view(&signed_in, &rotated.created, now, PATH, Some(note));
    if hx.wants_partial() {
        return created_key_dialog(view);
    }
    let list = own_keys(&state, &signed_in, KeyListQuery::default()).await?;
    html(
        StatusCode::OK,
        &UserApiKeysPage {
            layout: Layout::signed_in(&signed_in, "API Keys", "api-keys"),
            list,
            created: Some(view),
        },
    )
}
