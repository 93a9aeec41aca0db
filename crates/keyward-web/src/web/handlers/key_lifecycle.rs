//! The key lifecycle on User › API Keys (issue 14): rotating one of your own keys (a
//! dialog asks for the overlap; the answer shows the new key once and says when the old
//! one stops), and what create dialogs share: the secret shown once, the tenant's policy.

use crate::db::models::ApiKey;
use crate::domain::clock::rfc3339;
use crate::domain::{AccountId, ApiKeyId, InvalidInput, KeyPolicy, TenantId};
use crate::error::{AppError, HtmlError};
use crate::services::api_keys::{self, CreatedApiKey, KeyScope};
use crate::services::key_revocation;
use crate::services::key_rotation::{self, Overlap, SuccessorExpiry};
use crate::services::{key_expiry, key_lists, key_policy};
use crate::web::handlers::form_answer::FormAnswer;
use crate::web::handlers::key_creation::{created_key_dialog, parse_expiration};
use crate::web::handlers::key_list::KeyListQuery;
use crate::web::handlers::user_api_keys::{own_key, own_keys};
use crate::web::htmx::{html, Htmx};
use crate::web::session::SignedIn;
use crate::web::views::{
    date, date_time, ApiKeyRotatePage, ApiKeyRotatePartial, CreatedKeyView, KeyRow, Layout,
    RotateExpiryChoice, UserApiKeysPage,
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
    let Some(tenant_id) = tenant_id.and_then(|raw| TenantId::parse(&raw).ok()) else {
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
    /// "same" (or absent): the old key's lifetime again; else as the create form's.
    expiration: String,
    expires_on: String,
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
    let answer = FormAnswer::new(hx, &signed_in, "api-keys");
    let dialog = RotateDialog {
        key,
        action,
        back_url: PATH.into(),
    };
    rotate_dialog(&answer, &state, &signed_in, dialog, None, StatusCode::OK).await
}

/// The key a rotate dialog is about, where it posts, and where "Cancel" leads without
/// JavaScript.
pub(crate) struct RotateDialog {
    pub key: KeyRow,
    pub action: String,
    pub back_url: String,
}

/// The dialog asking when the new key expires and how long `key` keeps working beside
/// it; with `again`, the form as sent beside its expiry's error.
pub(crate) async fn rotate_dialog(
    answer: &FormAnswer<'_>,
    state: &AppState,
    signed_in: &SignedIn,
    d: RotateDialog,
    again: Option<(&RotateInput, String)>,
    status: StatusCode,
) -> Result<HttpResponse, HtmlError> {
    let (actor, key_id) = (signed_in.actor(), d.key.id.clone());
    let (preview, now) = state
        .run(move |conn, now| Ok((key_rotation::preview(conn, &actor, now, &key_id)?, now)))
        .await?;
    let (typed, error) = match again {
        Some((input, error)) => (
            Some((input.expiration.clone(), input.expires_on.clone())),
            Some(error),
        ),
        None => (None, None),
    };
    let expiry = RotateExpiryChoice::new(
        &preview.same_lifetime,
        preview.policy,
        date(now),
        typed,
        error,
    );
    let dialog = ApiKeyRotatePartial {
        key: d.key,
        expiry,
        action: d.action,
        csrf_token: signed_in.csrf_token.clone(),
        back_url: d.back_url,
    };
    answer.show(
        status,
        "Rotate an API key",
        dialog,
        |dialog| dialog,
        |layout, d| ApiKeyRotatePage {
            layout,
            key: d.key,
            expiry: d.expiry,
            action: d.action,
            csrf_token: d.csrf_token,
            back_url: d.back_url,
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
    // Only your own keys here: someone else's answers 404, like an unknown id.
    let key = own_key(&state, &signed_in, &key_id).await?;
    let dialog = RotateDialog {
        action: format!("{PATH}/{}/rotate", key.id),
        key,
        back_url: PATH.into(),
    };
    let answer = FormAnswer::new(hx, &signed_in, "api-keys");
    let view = match rotate_to_view(&answer, &state, &signed_in, dialog, &input, PATH).await? {
        Ok(view) => view,
        Err(again) => return Ok(again),
    };
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
            expiring: None,
        },
    )
}

/// Rotates the dialog's key as `input` asks and describes the new one for the
/// shown-once dialog, saying when the old one stops; `done_url` is the list the key
/// belongs to. `Ok(Err(answer))`: the dialog again, its expiry refused beside the field.
pub(crate) async fn rotate_to_view(
    answer: &FormAnswer<'_>,
    state: &AppState,
    signed_in: &SignedIn,
    dialog: RotateDialog,
    input: &RotateInput,
    done_url: &str,
) -> Result<Result<CreatedKeyView, HttpResponse>, HtmlError> {
    let overlap = input.overlap()?;
    let (actor, quotas) = (signed_in.actor(), state.settings.quotas);
    let key_id = dialog.key.id.clone();
    let expiry = input.expiry(state.clock.now());
    let rotated = match expiry {
        Err(e) => Err(AppError::from(e)),
        Ok(expiry) => {
            state
                .run(move |conn, now| {
                    let r = key_rotation::rotate_api_key(
                        conn,
                        &actor,
                        now,
                        &key_id,
                        (overlap, expiry),
                        &quotas,
                        None,
                    )?;
                    Ok((r, now))
                })
                .await
        }
    };
    let (rotated, now) = match rotated {
        Ok(done) => done,
        Err(AppError::Invalid(i)) if i.field == "expires_at" => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            let again = Some((input, i.message));
            return Ok(Err(rotate_dialog(
                answer, state, signed_in, dialog, again, status,
            )
            .await?));
        }
        Err(e) => return Err(e.into()),
    };
    let note = format!(
        "The old key stops working at {} ({}).",
        date_time(rotated.old_key_expires_at),
        rfc3339(rotated.old_key_expires_at)
    );
    Ok(Ok(created_view(
        signed_in,
        &rotated.created,
        now,
        done_url,
        Some(note),
    )))
}

impl RotateInput {
    /// The overlap the dialog chose, or a message saying which ones there are.
    pub(crate) fn overlap(&self) -> Result<Overlap, AppError> {
        self.overlap_hours
            .trim()
            .parse::<i32>()
            .map_err(|_| {
                AppError::invalid("overlap_hours", "choose none, 1 hour, 24 hours or 7 days")
            })
            .and_then(|h| Overlap::hours(h).map_err(AppError::from))
    }

    /// The new key's expiry the dialog chose: the old lifetime again, or as the create
    /// form reads it.
    fn expiry(&self, now: PrimitiveDateTime) -> Result<SuccessorExpiry, InvalidInput> {
        match self.expiration.trim() {
            "" | "same" if self.expires_on.trim().is_empty() => Ok(SuccessorExpiry::SameLifetime),
            "" | "same" => Err(InvalidInput::new(
                "expires_at",
                "you typed a date but chose the same lifetime: choose “On a date…” to use the date, or clear it",
            )),
            choice => parse_expiration(choice, &self.expires_on, now).map(SuccessorExpiry::Chosen),
        }
    }
}

/// The delete confirmation's "Revoke this key and the 3 keys and 1 service account it
/// created" box.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct DeleteInput {
    with_descendants: String,
}

impl DeleteInput {
    /// Whether the box was ticked (a form without a body ticks nothing).
    pub fn wanted(form: Option<web::Form<DeleteInput>>) -> bool {
        form.is_some_and(|f| !f.with_descendants.is_empty())
    }
}

/// What revoking the key with its descendants would also remove ("3 keys and 1 service
/// account"), for the confirmation; `None` when it made nothing (or is not the caller's).
pub(crate) async fn descendants_note(
    state: &AppState,
    signed_in: &SignedIn,
    key_id: &ApiKeyId,
) -> Option<String> {
    let (actor, key_id) = (signed_in.actor(), key_id.clone());
    state
        .run(move |conn, _| key_revocation::preview(conn, &actor, &key_id, None))
        .await
        .ok()
        .and_then(|d| d.describe())
}

/// Revokes a key, with its descendants when asked, inside `scope` (tenant, account);
/// returns it and, when descendants went with it, the toast's "and the … it created".
pub(crate) async fn revoke(
    state: &AppState,
    signed_in: &SignedIn,
    key_id: ApiKeyId,
    scope: Option<(TenantId, Option<AccountId>)>,
    with_descendants: bool,
) -> Result<(ApiKey, String), AppError> {
    let actor = signed_in.actor();
    state
        .run(move |conn, now| {
            let scope = scope.as_ref().map(|(tenant_id, account_id)| KeyScope {
                tenant_id,
                account_id: account_id.as_ref(),
            });
            if !with_descendants {
                let key = api_keys::revoke_api_key_in(conn, &actor, now, &key_id, scope)?;
                return Ok((key, String::new()));
            }
            let (key, found) =
                key_revocation::revoke_with_descendants(conn, &actor, now, &key_id, scope)?;
            let also = found
                .describe()
                .map(|d| format!(" and the {d} it created"))
                .unwrap_or_default()
                + &found.describe_skipped();
            Ok((key, also))
        })
        .await
}

/// For admins (of any of their tenants): "3 keys expire within 7 days: deploy (robot),
/// laptop (Ada)…", the keys they may manage, own and service accounts', soonest first.
pub(crate) async fn expiring_banner(state: &AppState, signed_in: &SignedIn) -> Option<String> {
    if !signed_in.person.tenants.iter().any(|m| m.role.is_admin()) {
        return None;
    }
    let actor = signed_in.actor();
    const NAMED: usize = 5;
    let (total, keys) = state
        .run(move |conn, now| key_lists::expiring_soon_summary(conn, &actor, now, NAMED as i64))
        .await
        .ok()?;
    if total == 0 {
        return None;
    }
    let mut names: Vec<String> = keys
        .iter()
        .map(|l| format!("{} ({})", l.key.name, l.account.name))
        .collect();
    if total as usize > NAMED {
        names.push(format!("and {} more", total as usize - NAMED));
    }
    Some(format!(
        "{} key{} you manage expire{} within {} days: {}.",
        total,
        if total == 1 { "" } else { "s" },
        if total == 1 { "s" } else { "" },
        key_expiry::WARN_DAYS,
        names.join(", ")
    ))
}
