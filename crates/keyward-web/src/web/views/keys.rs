//! User › API Keys and User › Password, and the key rows a service account's page shares.

use super::{date, date_time, expiry, expiry_day, relative, FieldErrors, Layout, TenantOption};
use crate::db::models::api_key::ApiKeyListing;
use crate::web::handlers::key_list::KeyListView;
use askama::Template;
use time::PrimitiveDateTime;

/// One row of an API-key table.
#[derive(Debug, Clone)]
pub struct KeyRow {
    pub id: crate::domain::ApiKeyId,
    pub name: String,
    pub tenant_name: String,
    pub tenant_slug: String,
    pub hint: String,
    pub created: String,
    pub created_iso: String,
    pub expired: bool,
    /// "Never", or the date plus "in N days".
    pub expires: String,
    /// `expires` in its two parts, each kept on one line: the date, and "(in N days)".
    pub expires_when: String,
    pub expires_in: String,
    /// No expiry: the list warns, as GitHub's does.
    pub never_expires: bool,
    pub last_used: String,
    pub read_only: bool,
    /// "Rotating — stops at …": the key was rotated and works until then.
    pub rotating_until: Option<String>,
    /// Expiring soon, by the one rule (`key_expiry::WARN_DAYS`); a rotating key shows
    /// its "Rotating" badge instead.
    pub expiring_soon: bool,
    /// Where the rotate icon leads (`None` for a key that is expired or already rotating).
    pub rotate_url: Option<String>,
    /// What the key is for; empty: nothing was written.
    pub description: String,
    /// The key's IP allow-list, or "Anywhere".
    pub allowed_ips: String,
    /// The allow-list as its edit form shows it (empty: anywhere).
    pub allowed_ips_typed: String,
    /// Where the allow-list's "Edit" leads: its dialog, which posts back to it.
    pub allowed_ips_url: String,
    /// Where the trash icon leads: the confirmation, which posts back to it.
    pub delete_url: String,
    /// The clients seen using it (see `KeyRow::with_clients`).
    pub clients: Vec<super::ClientLine>,
}

impl KeyRow {
    pub fn of(listing: &ApiKeyListing, now: PrimitiveDateTime) -> Self {
        let key = &listing.key;
        let allowed_ips_typed = crate::domain::AllowedIps::from_stored(key.allowed_ips.as_deref())
            .texts()
            .join(", ");
        Self {
            description: key.description.clone(),
            allowed_ips: if allowed_ips_typed.is_empty() {
                "Anywhere".into()
            } else {
                allowed_ips_typed.clone()
            },
            allowed_ips_typed,
            allowed_ips_url: format!("/user/api-keys/{}/allowed-ips", key.id),
            id: key.key_id(),
            name: key.name.clone(),
            tenant_name: listing.tenant.name.clone(),
            tenant_slug: listing.tenant.slug.clone(),
            hint: key.display_hint.clone(),
            created: date(key.created_at),
            created_iso: crate::domain::clock::rfc3339(key.created_at),
            expired: key.is_expired(now),
            never_expires: key.expires_at.is_none(),
            expires: expiry(key.expires_at, now),
            expires_when: key.expires_at.map(expiry_day).unwrap_or_default(),
            expires_in: key
                .expires_at
                .map(|at| format!("({})", relative(at, now)))
                .unwrap_or_default(),
            last_used: match key.last_used_at {
                None => "Never".into(),
                Some(at) => relative(at, now),
            },
            delete_url: format!("/user/api-keys/{}/delete", key.id),
            clients: Vec::new(),

            rotate_url: (key.rotated_to_key_id.is_none() && !key.is_expired(now))
                .then(|| format!("/user/api-keys/{}/rotate", key.id)),
            read_only: key.read_only,
            rotating_until: key
                .rotated_to_key_id
                .as_ref()
                .and(key.expires_at)
                .filter(|_| !key.is_expired(now))
                .map(date_time),
            expiring_soon: crate::services::key_expiry::expires_soon(key, now),
        }
    }

    pub fn list(listings: &[ApiKeyListing], now: PrimitiveDateTime) -> Vec<KeyRow> {
        listings.iter().map(|l| KeyRow::of(l, now)).collect()
    }

    /// For key lists elsewhere (a service account's keys): deletion confirmed at
    /// `{base}/{id}/delete`, the allow-list edited at `{base}/{id}/allowed-ips`.
    pub fn with_delete_base(mut self, base: &str) -> Self {
        self.delete_url = format!("{base}/{}/delete", self.id);
        self.allowed_ips_url = format!("{base}/{}/allowed-ips", self.id);
        if self.rotate_url.is_some() {
            self.rotate_url = Some(format!("{base}/{}/rotate", self.id));
        }
        self
    }
}

// ---- User › API Keys ----

/// The secret, shown once. No `Debug`: it holds the token.
pub struct CreatedKeyView {
    pub id: String,
    pub name: String,
    pub tenant_name: String,
    pub token: String,
    pub expires: String,
    /// Where "Done" leads without JavaScript (the list the key belongs to).
    pub done_url: String,
    /// Said under the key: after a rotation, when the old key stops.
    pub note: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/user_api_keys.html")]
pub struct UserApiKeysPage {
    pub layout: Layout,
    pub list: KeyListView,
    pub created: Option<CreatedKeyView>,
    /// For admins: the keys they manage that expire within 7 days, in a sentence.
    pub expiring: Option<String>,
}

/// A key list, `<section id="api-keys">`: the same file the pages include.
#[derive(Template)]
#[template(path = "partials/api_keys_list.html")]
pub struct ApiKeysListPartial {
    pub list: KeyListView,
}

#[derive(Template)]
#[template(path = "partials/api_key_created.html")]
pub struct ApiKeyCreatedPartial {
    pub created: CreatedKeyView,
}

/// The expiration choices of a create-key form.
pub const EXPIRATIONS: [(&str, &str); 6] = [
    ("never", "Never"),
    ("7", "7 days"),
    ("14", "14 days"),
    ("30", "30 days"),
    ("90", "90 days"),
    ("date", "On a date…"),
];

#[derive(Clone)]
pub struct CreateKeyForm {
    /// Where the form posts.
    pub action: String,
    /// Where "Cancel" leads without JavaScript.
    pub cancel_url: String,
    pub csrf_token: String,
    pub nonce: String,
    pub name: String,
    /// What the key is for, as typed (optional; `KeyDescription::MAX_LEN` characters).
    pub description: String,
    pub expiration: String,
    pub expires_on: String,
    /// The "Read-only" box: the key may run queries but change nothing.
    pub read_only: bool,
    /// The expiration choices the tenant's key policy allows (see `with_policy`).
    pub expirations: Vec<(&'static str, &'static str)>,
    /// The tenant's key policy, when it restricts the choices.
    pub policy_note: Option<String>,
    /// The IP ranges as typed (comma- or space-separated); empty = anywhere.
    pub allowed_ips: String,
    pub today: String,
    /// The last day the date picker offers (`max`), when the key policy sets one.
    pub last_day: Option<String>,
    /// The tenants to choose from; empty for keys whose tenant is fixed (a service
    /// account's), which hides the field.
    pub tenants: Vec<TenantOption>,
    pub errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "pages/api_key_new.html")]
pub struct ApiKeyNewPage {
    pub layout: Layout,
    pub form: CreateKeyForm,
}

#[derive(Template)]
#[template(path = "partials/api_key_form.html")]
pub struct ApiKeyFormPartial {
    pub form: CreateKeyForm,
}

#[derive(Template)]
#[template(path = "pages/api_key_delete.html")]
pub struct ApiKeyDeletePage {
    pub layout: Layout,
    pub key: KeyRow,
    /// What the key made ("3 keys and 1 service account"), offered to revoke with it.
    pub descendants: Option<String>,
    pub csrf_token: String,
    /// Where "Cancel" leads without JavaScript.
    pub back_url: String,
    pub dependents: super::KeyDependentsView,
}

/// The delete confirmation: posts to `key.delete_url`; htmx swaps the answer (the list
/// without the key) into `#api-keys`.
#[derive(Template)]
#[template(path = "partials/api_key_delete_form.html")]
pub struct ApiKeyDeletePartial {
    pub key: KeyRow,
    /// What the key made ("3 keys and 1 service account"), offered to revoke with it.
    pub descendants: Option<String>,
    pub csrf_token: String,
    pub back_url: String,
    pub dependents: super::KeyDependentsView,
}

/// The dialog editing one key's IP allow-list; it posts to `key.allowed_ips_url`.
#[derive(Clone)]
pub struct AllowedIpsForm {
    pub key: KeyRow,
    /// The ranges as typed (comma- or space-separated); empty = anywhere.
    pub allowed_ips: String,
    pub csrf_token: String,
    /// Where "Cancel" leads without JavaScript.
    pub back_url: String,
    pub errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "partials/api_key_allowed_ips_form.html")]
pub struct ApiKeyAllowedIpsPartial {
    pub form: AllowedIpsForm,
}

#[derive(Template)]
#[template(path = "pages/api_key_allowed_ips.html")]
pub struct ApiKeyAllowedIpsPage {
    pub layout: Layout,
    pub form: AllowedIpsForm,
}

// ---- User › Password ----

#[derive(Template)]
#[template(path = "pages/password.html")]
pub struct PasswordPage {
    pub layout: Layout,
    pub errors: FieldErrors,
}
