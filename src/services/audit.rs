//! Writes and reads the audit log. Writing is done by the other services, inside their
//! transaction, so an action and its audit line land together or not at all.

use crate::db::models::{Account, ApiKey, AuditEvent};
use crate::db::DbConnection;
use crate::domain::new_id;
use crate::error::AppError;
use crate::services::permissions::{self, Permission};
use crate::services::Actor;
use time::PrimitiveDateTime;

/// Every action name the services write.
pub const ACTIONS: &[&str] = &[
    "api_key.created",
    "api_key.revoked",
    "api_key.allowed_ips_changed",
    "api_key.refused_ip",
    "service_account.created",
    "service_account.renamed",
    "service_account.removed",
    "member.added",
    "member.role_changed",
    "member.removed",
    "invitation.created",
    "invitation.revoked",
    "invitation.accepted",
    "tenant.created",
    "tenant.deleted",
    "account.created",
    "account.password_changed",
    "account.password_change_refused",
];

pub struct Event<'a> {
    pub tenant_id: Option<&'a str>,
    pub action: &'static str,
    pub target_id: Option<&'a str>,
    pub detail: String,
}

pub fn record(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    event: Event<'_>,
) -> Result<(), AppError> {
    debug_assert!(ACTIONS.contains(&event.action));
    AuditEvent {
        id: new_id(),
        tenant_id: event.tenant_id.map(str::to_string),
        actor_id: actor.account_id().map(str::to_string),
        actor_key_id: actor.key_id().map(str::to_string),
        action: event.action.to_string(),
        target_id: event.target_id.map(str::to_string),
        detail: event.detail,
        ip: actor.ip.clone(),
        at: now,
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
    /// The name of the key the action came through, while the key exists.
    pub key_name: Option<String>,
}

pub struct AuditPage {
    pub events: Vec<AuditEntry>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

impl AuditPage {
    pub fn pages(&self) -> i64 {
        ((self.total + self.per_page - 1) / self.per_page).max(1)
    }
}

/// A page (1-based) of a tenant's audit log, newest first; admins only.
pub fn list_audit_events(
    conn: &mut DbConnection,
    actor: &Actor,
    tenant_id: &str,
    action: Option<&str>,
    page: i64,
    per_page: i64,
) -> Result<AuditPage, AppError> {
    permissions::require(conn, actor, tenant_id, Permission::ReadAuditLog)?;
    if let Some(a) = action {
        if !ACTIONS.contains(&a) {
            return Err(AppError::invalid(
                "action",
                format!("is not an audit action; use one of {}", ACTIONS.join(", ")),
            ));
        }
    }
    if !(1..=500).contains(&per_page) {
        return Err(AppError::invalid("per_page", "must be between 1 and 500"));
    }
    if !(1..=1_000_000).contains(&page) {
        return Err(AppError::invalid("page", "must be 1 or more"));
    }
    let total = AuditEvent::count(conn, tenant_id, action)?;
    let events = AuditEvent::page(conn, tenant_id, action, per_page, (page - 1) * per_page)?
        .into_iter()
        .map(|event| {
            let actor = match event.actor_id.as_deref() {
                Some(id) => Account::find(conn, id)?,
                None => None,
            };
            let key_name = match event.actor_key_id.as_deref() {
                Some(id) => ApiKey::find(conn, id)?.map(|k| k.name),
                None => None,
            };
            Ok(AuditEntry {
                actor_name: actor.as_ref().map(|a| a.name.clone()),
                actor_kind: actor.as_ref().map(Account::kind),
                key_name,
                event,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    Ok(AuditPage {
        events,
        total,
        page,
        per_page,
    })
}
