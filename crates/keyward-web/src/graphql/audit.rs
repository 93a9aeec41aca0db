//! Team › Audit log: a tenant's history, newest first, a page at a time (admins).

use crate::db::models::api_key_list::KeyOrderField;
use crate::db::models::team_lists::TeamWhere;
use crate::error::{AppError, GraphqlAnswer};
use crate::graphql::context::{tenant_or_own, RequestContext};
use crate::graphql::lists::{
    first_order, Aggregate, OrderBy, StringComparison, TimeComparison, Window,
};
use crate::graphql::scalars::{DateTime, Uuid};
use crate::services::audit::{self, AuditEntry, AuditPage};
use crate::services::team_lists::TeamList;
use async_graphql::{Context, InputObject, Object, SimpleObject};

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
    /// That key's name: its name now, or, once deleted, the name it had at the time
    /// (null for events written before names were kept).
    actor_key_name: Option<String>,
    /// Whether that key has been deleted since.
    actor_key_deleted: bool,
    target_id: Option<String>,
    detail: String,
    ip: Option<String>,
    at: DateTime,
}

impl From<AuditEntry> for GqlAuditEvent {
    fn from(entry: AuditEntry) -> Self {
        let e = entry.event;
        GqlAuditEvent {
            action: e.action().as_str().to_string(),
            id: e.id.into(),
            actor_id: e.actor_id,
            actor_name: entry.actor_name,
            actor_type: entry.actor_kind.map(|k| k.as_str().to_string()),
            actor_key_id: e.actor_key_id,
            actor_key_name: entry.key_name,
            actor_key_deleted: entry.key_deleted,
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

/// `where` on audit events: all given conditions must hold.
#[derive(InputObject, Default)]
#[graphql(name = "audit_event_bool_exp", rename_fields = "snake_case")]
pub struct AuditEventWhere {
    action: Option<StringComparison>,
    actor_id: Option<StringComparison>,
    /// `_ilike` on the details, which name what was acted on.
    detail: Option<StringComparison>,
    at: Option<TimeComparison>,
}

impl AuditEventWhere {
    fn into_filter(self, action: Option<String>) -> TeamWhere {
        let (created_before, created_after, _) = TimeComparison::parts(&self.at);
        TeamWhere {
            name_eq: StringComparison::eq_of(&self.action).or(action),
            name_like: StringComparison::ilike_of(&self.detail),
            account_id: StringComparison::eq_of(&self.actor_id),
            created_before,
            created_after,
            ..TeamWhere::default()
        }
    }
}

#[derive(InputObject, Default)]
#[graphql(name = "audit_event_order_by", rename_fields = "snake_case")]
pub struct AuditEventOrderBy {
    at: Option<OrderBy>,
}

/// The rows `audit_events` answers: its `limit`, else `per_page`.
fn audit_rows(limit: Option<i32>, per_page: i64) -> usize {
    Window::rows(limit.or(Some(i32::try_from(per_page).unwrap_or(i32::MAX))))
}

#[derive(Default)]
pub struct AuditQuery;

#[Object(rename_fields = "snake_case", rename_args = "snake_case")]
impl AuditQuery {
    /// The tenant's audit log, newest first: `limit` events from `offset` (Hasura style,
    /// at most 1,000), or page `page` (from 1) of `per_page` (at most 500) when neither is
    /// given. `action` is `where: {action: {_eq}}`.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "audit_rows(limit, per_page) * child_complexity")]
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<Uuid>,
        action: Option<String>,
        #[graphql(name = "where")] filter: Option<AuditEventWhere>,
        order_by: Option<Vec<AuditEventOrderBy>>,
        limit: Option<i32>,
        offset: Option<i32>,
        #[graphql(default = 1)] page: i64,
        #[graphql(default = 50)] per_page: i64,
    ) -> async_graphql::Result<GqlAuditEventPage> {
        let w = filter.unwrap_or_default().into_filter(action);
        let order = first_order(
            order_by
                .unwrap_or_default()
                .into_iter()
                .map(|o| [(KeyOrderField::CreatedAt, o.at)]),
        );
        let (limit, offset) = if limit.is_some() || offset.is_some() {
            let w = Window::parse(limit, offset).map_err(AppError::into_graphql)?;
            (w.limit, w.offset)
        } else {
            audit::page_window(page, per_page).map_err(AppError::into_graphql)?
        };
        let page = RequestContext::of(ctx)?
            .run(move |conn, _, actor| {
                let tenant_id = tenant_or_own(tenant_id, actor)?;
                audit::list_audit_events_where(conn, actor, &tenant_id, &w, limit, offset, order)
            })
            .await?;
        Ok(page.into())
    }

    /// How many events `audit_events` would page through with this `where`.
    async fn audit_events_aggregate(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<Uuid>,
        #[graphql(name = "where")] filter: Option<AuditEventWhere>,
    ) -> async_graphql::Result<Aggregate> {
        let w = filter.unwrap_or_default().into_filter(None);
        if let Some(a) = &w.name_eq {
            audit::check_action(a).map_err(AppError::into_graphql)?;
        }
        crate::graphql::members::aggregate(ctx, tenant_id, TeamList::AuditEvents, w).await
    }
}
