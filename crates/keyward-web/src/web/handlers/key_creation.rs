//! What every create-key dialog shares (yours on User › API Keys, a service account's on
//! its page): the form, read and checked, its key created once per form (its one-time
//! nonce becomes the key's id), and the dialog showing the new key once.

use crate::domain::{
    AccountId, AllowedIps, ApiKeyId, ExpiresAt, InvalidInput, KeyDescription, KeyName, TenantId,
};
use crate::error::{AppError, HtmlError};
use crate::services::api_keys::{self, NewApiKey};
use crate::web::handlers::form_answer::FormAnswer;
use crate::web::handlers::key_lifecycle::created_view;
use crate::web::htmx::html;
use crate::web::session::{self, SignedIn};
use crate::web::views::{
    date, ApiKeyCreatedPartial, ApiKeyFormPartial, ApiKeyNewPage, CreateKeyForm, CreatedKeyView,
    FieldErrors, TenantOption,
};
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use time::PrimitiveDateTime;

/// What was typed into the create form, kept to show it again beside its errors.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct CreateKeyInput {
    pub(crate) nonce: String,
    pub(crate) name: String,
    /// What the key is for (optional).
    pub(crate) description: String,
    pub(crate) expiration: String,
    pub(crate) expires_on: String,
    pub(crate) tenant_id: String,
    /// A checkbox: present ("on") when ticked.
    pub(crate) read_only: String,
    /// IP ranges the key may be used from, comma- or space-separated; empty = anywhere.
    pub(crate) allowed_ips: String,
}

impl CreateKeyInput {
    /// The create-key form again with what was typed (30 days unless an expiration was
    /// chosen), posting to `action` and leaving for `cancel_url`.
    pub(crate) fn into_form(
        self,
        signed_in: &SignedIn,
        (action, cancel_url): (String, String),
        nonce: String,
        now: PrimitiveDateTime,
        tenants: Vec<TenantOption>,
        errors: FieldErrors,
    ) -> CreateKeyForm {
        CreateKeyForm {
            action,
            cancel_url,
            csrf_token: signed_in.csrf_token.clone(),
            nonce,
            name: self.name,
            description: self.description,
            expiration: if self.expiration.is_empty() {
                "30".into()
            } else {
                self.expiration
            },
            expires_on: self.expires_on,
            read_only: !self.read_only.is_empty(),
            expirations: crate::web::views::EXPIRATIONS.to_vec(),
            policy_note: None,
            allowed_ips: self.allowed_ips,
            today: date(now),
            last_day: None,
            tenants,
            errors,
        }
    }
}

/// The create-key form (dialog content for htmx, else its own page), with `status`.
pub(crate) fn key_form_answer(
    answer: &FormAnswer<'_>,
    status: StatusCode,
    form: CreateKeyForm,
) -> Result<HttpResponse, HtmlError> {
    answer.show(
        status,
        "Create an API Key",
        form,
        |form| ApiKeyFormPartial { form },
        |layout, form| ApiKeyNewPage { layout, form },
    )
}

/// Never, 7 / 30 / 90 days (now + N × 24 h), or a date (00:00 UTC of the day after).
pub(crate) fn parse_expiration(
    choice: &str,
    on: &str,
    now: PrimitiveDateTime,
) -> Result<Option<ExpiresAt>, InvalidInput> {
    const FIELD: &str = "expires_at";
    // Without JavaScript the date field is always there: a date typed beside a preset
    // must not be dropped silently.
    if !matches!(choice.trim(), "date") && !on.trim().is_empty() {
        return Err(InvalidInput::new(
            FIELD,
            "you typed a date but chose another expiration: choose “On a date…” to use the date, or clear it",
        ));
    }
    match choice.trim() {
        "" | "never" => Ok(None),
        "date" => {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            let day = time::Date::parse(on.trim(), format)
                .map_err(|_| InvalidInput::new(FIELD, "choose a date, such as 2031-01-31"))?;
            ExpiresAt::end_of_date(day, now).map(Some)
        }
        days => match days.parse::<i64>() {
            Ok(n @ (7 | 14 | 30 | 90)) => ExpiresAt::in_days(n, now).map(Some),
            _ => Err(InvalidInput::new(
                FIELD,
                "choose Never, 7, 14, 30 or 90 days, or a date",
            )),
        },
    }
}

/// The id a create form's key gets: derived from the form's one-time nonce, so two
/// submissions of one form, even at the same instant, can store only one key (the id is
/// unique). The nonce is random and one person's, so ids stay unpredictable and distinct.
fn key_id_for_form(account_id: &str, nonce: &str) -> ApiKeyId {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{account_id}:{nonce}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    ApiKeyId::from_stored(
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .hyphenated()
            .to_string(),
    )
}

/// Which form field an error from the key service is about.
pub(crate) fn form_field(error: &AppError) -> Option<&'static str> {
    match error {
        AppError::Invalid(i) => Some(match i.field {
            "tenant" | "tenant_id" => "tenant_id",
            "expires_at" => "expires_at",
            "allowed_ips" => "allowed_ips",
            "description" => "description",
            _ => "name",
        }),
        // Choosing a tenant you do not belong to (an edited form).
        AppError::Forbidden(_) => Some("tenant_id"),
        _ => None,
    }
}

/// Checks a create-key form and creates its key once per form (its one-time nonce
/// becomes the key's id). `Ok(Err(errors))`: show the form again with these errors.
/// Shared by every create-key form: yours, and a service account's on the team pages.
pub(crate) async fn create_key_from_form(
    state: &AppState,
    signed_in: &SignedIn,
    input: &CreateKeyInput,
    account_id: &str,
    mut errors: FieldErrors,
    done_url: &str,
) -> Result<Result<CreatedKeyView, FieldErrors>, HtmlError> {
    if !session::form_nonce_is_live(&signed_in.session, &input.nonce) {
        return Err(AppError::Conflict(
            "this form was already used, so nothing was created; open “Create an API Key” again to make another key".into(),
        )
        .into());
    }
    let now = state.clock.now();
    let name = KeyName::parse(&input.name)
        .map_err(|e| errors.add("name", e.message))
        .ok();
    let expires_at = parse_expiration(&input.expiration, &input.expires_on, now)
        .map_err(|e| errors.add("expires_at", e.message))
        .ok();
    let allowed = AllowedIps::parse_typed(&input.allowed_ips)
        .map_err(|e| errors.add("allowed_ips", e.message))
        .ok();
    let description = KeyDescription::parse(&input.description)
        .map_err(|e| errors.add("description", e.message))
        .ok();
    let tenant_id = if input.tenant_id.trim().is_empty() {
        errors.add("tenant_id", "choose the tenant the key is for");
        None
    } else {
        TenantId::parse_as("tenant_id", &input.tenant_id)
            .map_err(|e| errors.add("tenant_id", e.message))
            .ok()
    };
    let (Some(name), Some(expires_at), Some(allowed), Some(description), Some(tenant_id), true) = (
        name,
        expires_at,
        allowed,
        description,
        tenant_id,
        errors.is_empty(),
    ) else {
        return Ok(Err(errors));
    };
    let actor = signed_in.actor();
    let new_key = NewApiKey {
        account_id: AccountId::from_stored(account_id),
        tenant_id: Some(tenant_id),
        name,
        expires_at,
        read_only: !input.read_only.is_empty(),
        allowed_ips: allowed,
        description,
    };
    let key_id = key_id_for_form(signed_in.account_id(), &input.nonce);
    let quotas = state.settings.quotas;
    let created = match state
        .run(move |conn, now| api_keys::create_api_key(conn, &actor, now, new_key, key_id, &quotas))
        .await
    {
        Ok(created) => created,
        Err(e) => {
            let Some(field) = form_field(&e) else {
                return Err(e.into());
            };
            let message = match &e {
                AppError::Invalid(i) => i.message.clone(),
                other => other.to_string(),
            };
            let mut errors = FieldErrors::default();
            errors.add(field, message);
            return Ok(Err(errors));
        }
    };
    session::consume_form_nonce(&signed_in.session, &input.nonce)?;
    Ok(Ok(created_view(signed_in, &created, now, done_url, None)))
}

/// The dialog showing a new key once; it tells the key list to refresh itself.
pub(crate) fn created_key_dialog(view: CreatedKeyView) -> Result<HttpResponse, HtmlError> {
    let mut res = html(StatusCode::OK, &ApiKeyCreatedPartial { created: view })?;
    res.headers_mut().insert(
        actix_web::http::header::HeaderName::from_static("hx-trigger"),
        actix_web::http::header::HeaderValue::from_static("api-keys-changed"),
    );
    Ok(res)
}
