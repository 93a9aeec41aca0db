//! Team › Audit log: a tenant's history, newest first, a page at a time (admins).

use crate::graphql::context::{tenant_or_own, RequestContext};
use crate::graphql::scalars::{DateTime, Uuid};
use crate::services::audit::{self, AuditEntry, AuditPage};
use async_graphql::{Context, Object, SimpleObject};

#[derive(SimpleObject)]
#[graphql(name = "audit_event", rename_fields = "snake_case")]
pub struct GqlAuditEvent {
    id: Uuid,
    /// `api_key.created`, `api_key.revoked`, `service_account.created`, …
    action: String,
    /// The account that acted; null for operators.
    actor_id: Option<String>,
    /// The acting account's name, while it exists.
    actor_name: Option<String>,
    /// `USER` or `SERVICE_ACCOUNT`, while the acting account exists.
    actor_type: Option<String>,
    /// The key it acted through, if any.
    actor_key_id: Option<String>,
    /// That key's name, while the key exists.
    actor_key_name: Option<String>,
    target_id: Option<String>,
    detail: String,
    ip: Option<String>,
    at: DateTime,
}

impl From<AuditEntry> for GqlAuditEvent {
    fn from(entry: AuditEntry) -> Self {
        let e = entry.event;
        GqlAuditEvent {
            id: e.id.into(),
            action: e.action,
            actor_id: e.actor_id,
            actor_name: entry.actor_name,
            actor_type: entry.actor_kind.map(|k| k.as_str().to_string()),
            actor_key_id: e.actor_key_id,
            actor_key_name: entry.key_name,
            target_id: e.target_id,
            detail: e.detail,
            ip: e.ip,
            at: e.at.into(),
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "audit_event_page", rename_fields = "snake_case")]
pub struct GqlAuditEventPage {
    events: Vec<GqlAuditEvent>,
    /// Events matching the filter, on every page.
    total: i64,
    page: i64,
    per_page: i64,
    pages: i64,
}

impl From<AuditPage> for GqlAuditEventPage {
    fn from(p: AuditPage) -> Self {
        GqlAuditEventPage {
            pages: p.pages(),
            total: p.total,
            page: p.page,
            per_page: p.per_page,
            events: p.events.into_iter().map(GqlAuditEvent::from).collect(),
        }
    }
}

#[derive(Default)]
pub struct AuditQuery;

#[Object(rename_fields = "snake_case", rename_args = "snake_case")]
impl AuditQuery {
    /// A page (from 1) of the tenant's audit log, optionally of one action.
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<Uuid>,
        action: Option<String>,
        #[graphql(default = 1)] page: i64,
        #[graphql(default = 50)] per_page: i64,
    ) -> async_graphql::Result<GqlAuditEventPage> {
        let page = RequestContext::of(ctx)?
            .run(move |conn, _, actor| {
                let tenant_id = tenant_or_own(tenant_id, actor)?;
                audit::list_audit_events(conn, actor, &tenant_id, action.as_deref(), page, per_page)
            })
            .await?;
        Ok(page.into())
    }
}
