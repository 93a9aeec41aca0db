//! Views of the key lifecycle (issue 14): Team › Settings with the tenant's key policy.

use super::{FieldErrors, Layout, TeamTenant};
use askama::Template;

/// The rotate dialog: posts to `action`; the answer is the new key, shown once.
#[derive(Template)]
#[template(path = "partials/api_key_rotate_form.html")]
pub struct ApiKeyRotatePartial {
    pub key: super::KeyRow,
    pub action: String,
    pub csrf_token: String,
    pub back_url: String,
}

#[derive(Template)]
#[template(path = "pages/api_key_rotate.html")]
pub struct ApiKeyRotatePage {
    pub layout: Layout,
    pub key: super::KeyRow,
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

impl super::CreateKeyForm {
    /// Offers only the expirations the tenant's key policy allows, and says why.
    pub fn with_policy(mut self, policy: crate::domain::KeyPolicy) -> Self {
        if !policy.require_expiry() {
            return self;
        }
        let max = policy.max_key_lifetime_days().map(i64::from);
        self.expirations.retain(|(value, _)| match *value {
            "never" => false,
            "date" => true,
            days => days
                .parse::<i64>()
                .is_ok_and(|d| max.is_none_or(|m| d <= m)),
        });
        if !self.expirations.iter().any(|(v, _)| *v == self.expiration) {
            self.expiration = self
                .expirations
                .iter()
                .rev()
                .find(|(v, _)| *v != "date")
                .map_or("date", |(v, _)| *v)
                .to_string();
        }
        self.policy_note = Some(format!("This tenant's key policy: {}.", policy.describe()));
        // The date picker offers no day the policy refuses (a picked day means its end).
        self.last_day = time::Date::parse(
            &self.today,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .ok()
        .and_then(|today| policy.latest_expiry(today.midnight()))
        .and_then(|latest| latest.date().previous_day())
        .map(|day| day.to_string());
        self
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
