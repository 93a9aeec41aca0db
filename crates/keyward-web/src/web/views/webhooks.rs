//! Team › Webhooks.

use super::{Layout, TeamTenant};
use askama::Template;

pub struct AttemptRow {
    pub at: String,
    /// The HTTP status, or "no answer".
    pub status: String,
    pub duration_ms: i32,
    pub error: String,
}

pub struct DeliveryRow {
    /// The `webhook-id`.
    pub id: String,
    pub event: String,
    pub created: String,
    pub attempts: Vec<AttemptRow>,
}

pub struct WebhookRow {
    pub id: String,
    pub url: String,
    pub events: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub deliveries: Vec<DeliveryRow>,
}

#[derive(Template)]
#[template(path = "pages/team_webhooks.html")]
pub struct TeamWebhooksPage {
    pub layout: Layout,
    pub team: TeamTenant,
    /// `/t/{slug}/team/webhooks`
    pub base: String,
    pub webhooks: Vec<WebhookRow>,
    pub events: Vec<&'static str>,
    /// A webhook's URL and its secret, just made: shown on this answer only.
    pub secret: Option<(String, String)>,
    pub error: Option<String>,
    pub max: i64,
}
