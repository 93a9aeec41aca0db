//! Team › Webhooks through GraphQL (admins): `webhooks` with recent deliveries,
//! `create_webhook` (the secret in its answer, once), `update_webhook`, `delete_webhook`,
//! `rotate_webhook_secret`, `redeliver_webhook`.

use crate::db::models::webhook::{WebhookAttempt, WebhookEndpoint};
use crate::graphql::context::{tenant_or_own, RequestContext};
use crate::graphql::scalars::{DateTime, Uuid};
use crate::graphql::SuccessPayload;
use crate::services::webhooks::{self, CreatedWebhook, Delivery, Webhook};
use async_graphql::{Context, InputObject, Object, SimpleObject};

#[derive(SimpleObject)]
#[graphql(name = "webhook_attempt", rename_fields = "snake_case")]
pub struct GqlAttempt {
    attempted_at: DateTime,
    /// The answer's HTTP status; null when there was none.
    status_code: Option<i32>,
    duration_ms: i32,
    /// Why it failed; null when delivered.
    error: Option<String>,
}

impl From<WebhookAttempt> for GqlAttempt {
    fn from(a: WebhookAttempt) -> Self {
        Self {
            attempted_at: a.attempted_at.into(),
            status_code: a.status_code,
            duration_ms: a.duration_ms,
            error: a.error,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "webhook_delivery", rename_fields = "snake_case")]
pub struct GqlDelivery {
    /// The `webhook-id` of every attempt (a redelivery's too).
    id: String,
    event: String,
    created_at: DateTime,
    attempts: Vec<GqlAttempt>,
}

impl From<Delivery> for GqlDelivery {
    fn from(d: Delivery) -> Self {
        Self {
            id: d.message.id,
            event: d.message.event,
            created_at: d.message.created_at.into(),
            attempts: d.attempts.into_iter().map(GqlAttempt::from).collect(),
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "webhook", rename_fields = "snake_case")]
pub struct GqlWebhook {
    id: Uuid,
    tenant_id: Uuid,
    url: String,
    events: Vec<String>,
    enabled: bool,
    /// Why Keyward disabled it, if it did.
    disabled_reason: Option<String>,
    created_at: DateTime,
    /// Its latest deliveries, newest first (in `webhooks` only).
    deliveries: Vec<GqlDelivery>,
}

impl GqlWebhook {
    fn of(endpoint: WebhookEndpoint, deliveries: Vec<Delivery>) -> Self {
        Self {
            events: endpoint
                .event_names()
                .into_iter()
                .map(str::to_string)
                .collect(),
            id: endpoint.id.into(),
            tenant_id: endpoint.tenant_id.into(),
            url: endpoint.url,
            enabled: endpoint.enabled,
            disabled_reason: endpoint.disabled_reason,
            created_at: endpoint.created_at.into(),
            deliveries: deliveries.into_iter().map(GqlDelivery::from).collect(),
        }
    }
}

impl From<Webhook> for GqlWebhook {
    fn from(w: Webhook) -> Self {
        Self::of(w.endpoint, w.deliveries)
    }
}

/// A webhook and its signing secret (`whsec_…`), shown this once.
#[derive(SimpleObject)]
#[graphql(name = "webhook_with_secret", rename_fields = "snake_case")]
pub struct GqlWebhookWithSecret {
    webhook: GqlWebhook,
    secret: String,
}

impl From<CreatedWebhook> for GqlWebhookWithSecret {
    fn from(c: CreatedWebhook) -> Self {
        Self {
            secret: c.secret.expose().to_string(),
            webhook: GqlWebhook::of(c.endpoint, Vec::new()),
        }
    }
}

#[derive(InputObject)]
#[graphql(name = "create_webhook_input", rename_fields = "snake_case")]
pub struct CreateWebhookInput {
    /// Defaults to the key's tenant.
    tenant_id: Option<Uuid>,
    /// Where events are posted: https:// (or http://).
    url: String,
    /// Event names: api_key.created, api_key.revoked, api_key.expiring, api_key.leaked,
    /// service_account.created, service_account.removed, member.added, member.removed.
    events: Vec<String>,
}

#[derive(InputObject)]
#[graphql(name = "update_webhook_input", rename_fields = "snake_case")]
pub struct UpdateWebhookInput {
    id: Uuid,
    url: Option<String>,
    events: Option<Vec<String>>,
    /// Enabling a disabled webhook starts its count of failures over.
    enabled: Option<bool>,
}

#[derive(InputObject)]
#[graphql(name = "webhook_id_input", rename_fields = "snake_case")]
pub struct WebhookIdInput {
    id: Uuid,
}

#[derive(InputObject)]
#[graphql(name = "redeliver_webhook_input", rename_fields = "snake_case")]
pub struct RedeliverWebhookInput {
    /// The delivery's id (its `webhook-id`).
    delivery_id: String,
}

#[derive(Default)]
pub struct WebhooksQuery;

#[Object(rename_fields = "snake_case", rename_args = "snake_case")]
impl WebhooksQuery {
    /// The tenant's webhooks (admins), each with its latest deliveries. Never a secret.
    async fn webhooks(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<Uuid>,
    ) -> async_graphql::Result<Vec<GqlWebhook>> {
        let list = RequestContext::of(ctx)?
            .run(move |conn, _, actor| {
                let tenant_id = tenant_or_own(tenant_id, actor)?;
                webhooks::list_webhooks(conn, actor, &tenant_id)
            })
            .await?;
        Ok(list.into_iter().map(GqlWebhook::from).collect())
    }
}

#[derive(Default)]
pub struct WebhooksMutation;

#[Object(rename_fields = "snake_case", rename_args = "snake_case")]
impl WebhooksMutation {
    /// Registers a webhook (at most 10 per tenant); its secret is in this answer only.
    async fn create_webhook(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookInput,
    ) -> async_graphql::Result<GqlWebhookWithSecret> {
        let context = RequestContext::of(ctx)?;
        let keys = context.state.sealing_keys.clone();
        let created = context
            .run(move |conn, now, actor| {
                let tenant_id = tenant_or_own(input.tenant_id, actor)?;
                webhooks::create_webhook(
                    conn,
                    actor,
                    now,
                    &keys,
                    &tenant_id,
                    &input.url,
                    &input.events,
                )
            })
            .await?;
        Ok(created.into())
    }

    async fn update_webhook(
        &self,
        ctx: &Context<'_>,
        input: UpdateWebhookInput,
    ) -> async_graphql::Result<GqlWebhook> {
        let context = RequestContext::of(ctx)?;
        let keys = context.state.sealing_keys.clone();
        let endpoint = context
            .run(move |conn, now, actor| {
                webhooks::update_webhook(
                    conn,
                    actor,
                    now,
                    &keys,
                    webhooks::WebhookRef::any(&input.id.0),
                    input.url.as_deref(),
                    input.events.as_deref(),
                    input.enabled,
                )
            })
            .await?;
        Ok(GqlWebhook::of(endpoint, Vec::new()))
    }

    async fn delete_webhook(
        &self,
        ctx: &Context<'_>,
        input: WebhookIdInput,
    ) -> async_graphql::Result<SuccessPayload> {
        RequestContext::of(ctx)?
            .run(move |conn, now, actor| {
                webhooks::delete_webhook(conn, actor, now, webhooks::WebhookRef::any(&input.id.0))
            })
            .await?;
        Ok(SuccessPayload { success: true })
    }

    /// A new secret, in this answer only; the old one signs too for 24 hours.
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        input: WebhookIdInput,
    ) -> async_graphql::Result<GqlWebhookWithSecret> {
        let context = RequestContext::of(ctx)?;
        let keys = context.state.sealing_keys.clone();
        let rotated = context
            .run(move |conn, now, actor| {
                webhooks::rotate_webhook_secret(
                    conn,
                    actor,
                    now,
                    &keys,
                    webhooks::WebhookRef::any(&input.id.0),
                )
            })
            .await?;
        Ok(rotated.into())
    }

    /// Sends a delivery again, with the same `webhook-id`.
    async fn redeliver_webhook(
        &self,
        ctx: &Context<'_>,
        input: RedeliverWebhookInput,
    ) -> async_graphql::Result<SuccessPayload> {
        RequestContext::of(ctx)?
            .run(move |conn, now, actor| {
                webhooks::redeliver(
                    conn,
                    actor,
                    now,
                    webhooks::WebhookRef::any(&input.delivery_id),
                )
                .map(drop)
            })
            .await?;
        Ok(SuccessPayload { success: true })
    }
}
