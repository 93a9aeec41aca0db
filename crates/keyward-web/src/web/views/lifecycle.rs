//! Views of the key lifecycle (issue 14): Team › Settings with the tenant's key policy.

use super::{FieldErrors, Layout, TeamTenant};
use crate::domain::KeyPolicy;
use askama::Template;
use time::PrimitiveDateTime;

/// The rotate dialog: posts to `action`; the answer is the new key, shown once.
#[derive(Template)]
#[template(path = "partials/api_key_rotate_form.html")]
pub struct ApiKeyRotatePartial {
    pub key: super::KeyRow,
    pub expiry: RotateExpiryChoice,
    pub action: String,
    pub csrf_token: String,
    pub back_url: String,
}

#[derive(Template)]
#[template(path = "pages/api_key_rotate.html")]
pub struct ApiKeyRotatePage {
    pub layout: Layout,
    pub key: super::KeyRow,
    pub expiry: RotateExpiryChoice,
    pub action: String,
    pub csrf_token: String,
    pub back_url: String,
}

/// Rotation's overlap choices, in hours, as the dialog offers them (24 hours chosen).
pub const OVERLAPS: [(&str, &str, bool); 4] = [
    ("0", "None: the old key stops now", false),
    ("1", "1 hour", false),
    ("24", "24 hours", true),
    ("168", "7 days", false),
];

/// A key that a key created now could not be, as the settings page lists it.
#[derive(Debug, Clone)]
pub struct KeyBeyondRow {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub expires: String,
}

#[derive(Template)]
#[template(path = "pages/team_settings.html")]
pub struct TeamSettingsPage {
    pub layout: Layout,
    pub team: TeamTenant,
    /// What the form shows: the stored days, or what was typed.
    pub max_key_lifetime_days: String,
    pub require_expiry: bool,
    /// The policy in words ("keys must expire within 90 days").
    pub summary: String,
    pub keys_beyond: Vec<KeyBeyondRow>,
    pub mail: MailStateView,
    /// Whether members must have two-factor on (issue 27).
    pub two_factor_required: bool,
    /// Whether members must sign in through the OpenID provider (issue 30).
    pub sso_required: bool,
    /// The provider's name; `None`: single sign-on is not set up.
    pub sso_provider: Option<String>,
    pub sso_session_hours: i64,
    pub errors: FieldErrors,
}

/// Team › Settings' "Mail" section: whether this server mails links, and the tenant's
/// outbox (what waits, what was given up, the last failure and why).
#[derive(Debug, Clone, Default)]
pub struct MailStateView {
    /// Why links cannot be mailed (`None`: they can).
    pub off: Option<&'static str>,
    pub pending: i64,
    pub given_up: i64,
    pub last_failure: Option<MailFailureView>,
    pub last_sent: Option<String>,
}

#[derive(Debug, Clone)]
pub struct MailFailureView {
    pub at: String,
    pub recipient: String,
    pub reason: String,
    /// "tried again in 5 minutes", or "given up".
    pub next: String,
}

/// The create form's expirations that `policy` allows ("Never" only without a
/// required expiry; presets within its maximum; a date always).
fn allowed_expirations(policy: KeyPolicy) -> Vec<(&'static str, &'static str)> {
    let mut all = super::EXPIRATIONS.to_vec();
    if policy.require_expiry() {
        let max = policy.max_key_lifetime_days().map(i64::from);
        all.retain(|(value, _)| match *value {
            "never" => false,
            "date" => true,
            days => days
                .parse::<i64>()
                .is_ok_and(|d| max.is_none_or(|m| d <= m)),
        });
    }
    all
}

/// The last day a date picker may offer under `policy` (a picked day means its end).
fn last_day(today: &str, policy: KeyPolicy) -> Option<String> {
    time::Date::parse(
        today,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()
    .and_then(|today| policy.latest_expiry(today.midnight()))
    .and_then(|latest| latest.date().previous_day())
    .map(|day| day.to_string())
}

fn policy_note(policy: KeyPolicy) -> String {
    format!("This tenant's key policy: {}.", policy.describe())
}

impl super::CreateKeyForm {
    /// Offers only the expirations the tenant's key policy allows, and says why.
    pub fn with_policy(mut self, policy: KeyPolicy) -> Self {
        if !policy.require_expiry() {
            return self;
        }
        self.expirations = allowed_expirations(policy);
        if !self.expirations.iter().any(|(v, _)| *v == self.expiration) {
            self.expiration = self
                .expirations
                .iter()
                .rev()
                .find(|(v, _)| *v != "date")
                .map_or("date", |(v, _)| *v)
                .to_string();
        }
        self.policy_note = Some(policy_note(policy));
        // The date picker offers no day the policy refuses (a picked day means its end).
        self.last_day = last_day(&self.today, policy);
        self
    }
}

/// The rotate dialog's "Expiration of the new key", as GitHub's Regenerate asks: the
/// old key's lifetime again (chosen unless the policy refuses it), or the create form's
/// choices within the tenant's policy.
#[derive(Debug, Clone)]
pub struct RotateExpiryChoice {
    pub expirations: Vec<(String, String)>,
    pub expiration: String,
    pub expires_on: String,
    pub today: String,
    pub last_day: Option<String>,
    pub policy_note: Option<String>,
    pub error: Option<String>,
}

impl RotateExpiryChoice {
    /// `same_lifetime`: when the new key would expire with the old key's lifetime
    /// (`Ok(None)`: never; `Err`: the policy refuses it); `typed`: the choice and date a
    /// form sent, shown again beside `error`.
    pub fn new(
        same_lifetime: &Result<Option<PrimitiveDateTime>, String>,
        policy: KeyPolicy,
        today: String,
        typed: Option<(String, String)>,
        error: Option<String>,
    ) -> Self {
        let mut expirations: Vec<(String, String)> = Vec::new();
        if let Ok(at) = same_lifetime {
            let when = at.map_or("never expires".to_string(), |at| {
                format!("until {}", super::date_time(at))
            });
            expirations.push(("same".into(), format!("Same lifetime as this key: {when}")));
        }
        expirations.extend(
            allowed_expirations(policy)
                .into_iter()
                .map(|(v, l)| (v.to_string(), l.to_string())),
        );
        let (expiration, expires_on) = typed.unwrap_or_else(|| {
            let first = if same_lifetime.is_ok() { "same" } else { "30" };
            (first.to_string(), String::new())
        });
        let expiration = if expirations.iter().any(|(v, _)| *v == expiration) {
            expiration
        } else {
            expirations
                .iter()
                .rev()
                .find(|(v, _)| v != "date")
                .map_or("date".to_string(), |(v, _)| v.clone())
        };
        Self {
            expirations,
            expiration,
            expires_on,
            last_day: last_day(&today, policy),
            today,
            policy_note: policy.require_expiry().then(|| policy_note(policy)),
            error,
        }
    }
}

impl super::CreateKeyForm {
    /// The tenant chosen in the form, if any.
    pub fn selected_tenant(&self) -> Option<String> {
        self.tenants
            .iter()
            .find(|t| t.selected)
            .map(|t| t.id.clone())
    }
}
