//! Writes and reads the audit log. Writing is done by the other services, inside their
//! transaction, so an action and its audit line land together or not at all.

use crate::db::models::api_key_list::{KeyOrder, KeyPage};
use crate::db::models::team_lists::key_names_of;
use crate::db::models::team_lists::TeamWhere;
use crate::db::models::{Account, AuditEvent};
use crate::db::DbConnection;
use crate::domain::{new_id, AuditAction, TenantId};
use crate::error::AppError;
use crate::services::permissions::{self, Permission};
use crate::services::Actor;
use time::PrimitiveDateTime;

/// The actions a tenant's log can hold (its filter offers them).
pub fn tenant_actions() -> impl Iterator<Item = AuditAction> {
    AuditAction::WRITTEN
        .iter()
        .copied()
        .filter(|a| a.in_tenant_log())
}

pub struct Event<'a> {
    pub tenant_id: Option<&'a str>,
    pub action: AuditAction,
    pub target_id: Option<&'a str>,
    pub detail: String,
}

/// Records a change `actor` makes; refused for a read-only key, so no change made
/// through one can commit (`permissions::require_writable`).
pub fn record(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    event: Event<'_>,
) -> Result<(), AppError> {
    permissions::require_writable(actor)?;
    record_system(conn, actor, now, event)
}

/// Records what the system did about a request of `actor`, not a change the actor made
/// (a request refused by the key's IP allow-list): written whatever the key's scope, so
/// a read-only key's refusals are audited too.
pub fn record_system(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    event: Event<'_>,
) -> Result<(), AppError> {
    debug_assert!(event.action != AuditAction::Other);
    AuditEvent {
        id: new_id(),
        tenant_id: event.tenant_id.map(str::to_string),
        actor_id: actor.account_id().map(ToString::to_string),
        actor_key_id: actor.key_id().map(ToString::to_string),
        action: event.action.as_str().to_string(),
        target_id: event.target_id.map(str::to_string),
        detail: event.detail,
        ip: actor.ip.clone(),
        at: now,
        actor_key_name: actor.key_name().map(str::to_string),
    }
    .insert(conn)?;
    Ok(())
}

/// An event with who did it, for people to read.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub event: AuditEvent,
    /// The acting account's name and kind, while it exists; `None` for operators
    /// (`keyward admin`) or accounts removed since.
    pub actor_name: Option<String>,
    pub actor_kind: Option<crate::domain::AccountKind>,
    /// The name of the key the action came through: its name now, else the one kept in
    /// the event (`None` for events older than that).
    pub key_name: Option<String>,
    /// The event came through a key that has been deleted since.
    pub key_deleted: bool,
}

pub struct AuditPage {
    pub events: Vec<AuditEntry>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

impl AuditPage {
    pub fn pages(&self) -> i64 {
        let per_page = self.per_page.max(1);
        ((self.total + per_page - 1) / per_page).max(1)
    }
}

/// Audit events with their actors' and keys' names: two queries for the page.
pub fn describe_audit_events(
    conn: &mut DbConnection,
    events: Vec<AuditEvent>,
) -> Result<Vec<AuditEntry>, AppError> {
    let actors = Account::names_of(
        conn,
        events.iter().filter_map(|e| e.actor_id.clone()).collect(),
    )?;
    let keys = key_names_of(
        conn,
        events
            .iter()
            .filter_map(|e| e.actor_key_id.clone())
            .collect(),
    )?;
    Ok(events
        .into_iter()
        .map(|event| {
            let actor = event.actor_id.as_ref().and_then(|id| actors.get(id));
            let live = event.actor_key_id.as_ref().and_then(|id| keys.get(id));
            AuditEntry {
                actor_name: actor.map(|(name, _)| name.clone()),
                actor_kind: actor.map(|(_, kind)| *kind),
                key_name: live.cloned().or_else(|| event.actor_key_name.clone()),
                key_deleted: event.actor_key_id.is_some() && live.is_none(),
                event,
            }
        })
        .collect())
}

/// Refuses what is not an action the services write, naming those that are.
pub fn check_action(action: &str) -> Result<AuditAction, AppError> {
    Ok(AuditAction::parse(action)?)
}

/// A page (1-based) of a tenant's audit log, newest first; admins only.
pub fn list_audit_events(
    conn: &mut DbConnection,
    actor: &Actor,
    tenant_id: &TenantId,
    action: Option<&str>,
    page: i64,
    per_page: i64,
) -> Result<AuditPage, AppError> {
    let (limit, offset) = page_window(page, per_page)?;
    let w = TeamWhere {
        name_eq: action.map(str::to_string),
        ..TeamWhere::default()
    };
    let order = KeyOrder::default();
    list_audit_events_where(conn, actor, tenant_id, &w, limit, offset, order)
}

/// `page` (from 1) of `per_page` events as a limit and an offset, checked.
pub fn page_window(page: i64, per_page: i64) -> Result<(i64, i64), AppError> {
    if !(1..=500).contains(&per_page) {
        return Err(AppError::invalid("per_page", "must be between 1 and 500"));
    }
    if !(1..=1_000_000).contains(&page) {
        return Err(AppError::invalid("page", "must be 1 or more"));
    }
    Ok((per_page, (page - 1) * per_page))
}

/// `limit` events from `offset` of a tenant's audit log matching `w` (`name_eq` is the
/// action, `name_like` a pattern on the details), with the total; admins only. Who
/// acted and through which key are looked up for the whole page at once.
pub fn list_audit_events_where(
    conn: &mut DbConnection,
    actor: &Actor,
    tenant_id: &TenantId,
    w: &TeamWhere,
    limit: i64,
    offset: i64,
    order: KeyOrder,
) -> Result<AuditPage, AppError> {
    permissions::require(conn, actor, tenant_id, Permission::ReadAuditLog)?;
    if let Some(a) = &w.name_eq {
        check_action(a)?;
    }
    let total = AuditEvent::count_tenant_where(conn, tenant_id.as_str(), w)?;
    let page = KeyPage::Offset {
        limit,
        offset,
        order,
    };
    let events = AuditEvent::tenant_page(conn, tenant_id.as_str(), w, &page)?;
    Ok(AuditPage {
        events: describe_audit_events(conn, events)?,
        total,
        page: offset / limit.max(1) + 1,
        per_page: limit,
    })
}
