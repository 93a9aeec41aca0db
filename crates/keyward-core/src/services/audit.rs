//! Writes and reads the audit log. Writing is done by the other services, inside their
//! transaction, so an action and its audit line land together or not at all.

use crate::db::models::api_key_list::{KeyOrder, KeyPage};
use crate::db::models::team_lists::TeamWhere;
use crate::db::models::AuditEvent;
use crate::db::DbConnection;
use crate::domain::new_id;
use crate::error::AppError;
use crate::services::permissions::{self, Permission};
use crate::services::team_lists::describe_audit_events;
use crate::services::Actor;
use time::PrimitiveDateTime;

/// Every action name the services write.
pub const ACTIONS: &[&str] = &[
    "api_key.created",
    "api_key.revoked",
    "api_key.rotated",
    "tenant.key_policy_changed",
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
    "sign_in.succeeded",
    "sign_in.failed",
    "sign_in.refused",
    "sign_in.code_required",
    "sign_in.code_failed",
    "sign_in.code_refused",
    "two_factor.enabled",
    "two_factor.recovery_codes_regenerated",
    "two_factor.disabled",
    "two_factor.disable_refused",
    "two_factor.enable_refused",
    "two_factor.recovery_codes_refused",
    "two_factor.reset",
    "tenant.two_factor_requirement_changed",
    "account.created",
    "account.password_changed",
    "account.password_change_refused",
    "password_reset.requested",
    "password_reset.refused",
    "password_reset.opened",
    "password_reset.completed",
    "password_reset.link_created",
    "password_reset.set_by_operator",
];

/// What people read for an action.
pub fn label(action: &str) -> &'static str {
    match action {
        "api_key.created" => "API key created",
        "api_key.revoked" => "API key deleted",
        "api_key.rotated" => "API key rotated",
        "tenant.key_policy_changed" => "Key policy changed",
        "api_key.allowed_ips_changed" => "Key's allowed addresses changed",
        "api_key.refused_ip" => "Key refused from an address",
        "service_account.created" => "Service account created",
        "service_account.renamed" => "Service account renamed",
        "service_account.removed" => "Service account removed",
        "member.added" => "Member added",
        "member.role_changed" => "Role changed",
        "member.removed" => "Member removed",
        "invitation.created" => "Invitation created",
        "invitation.revoked" => "Invitation revoked",
        "invitation.accepted" => "Invitation accepted",
        "tenant.created" => "Tenant created",
        "tenant.deleted" => "Tenant deleted",
        "sign_in.succeeded" => "Signed in",
        "sign_in.failed" => "Sign-in failed",
        "sign_in.refused" => "Sign-ins refused (too many failures)",
        "sign_in.code_required" => "Password accepted, two-factor code asked",
        "sign_in.code_failed" => "Two-factor code refused",
        "sign_in.code_refused" => "Two-factor codes refused (too many wrong)",
        "two_factor.enabled" => "Two-factor turned on",
        "two_factor.recovery_codes_regenerated" => "Recovery codes replaced",
        "two_factor.disabled" => "Two-factor turned off",
        "two_factor.disable_refused" => "Turning two-factor off refused",
        "two_factor.enable_refused" => "Turning two-factor on refused",
        "two_factor.recovery_codes_refused" => "New recovery codes refused",
        "two_factor.reset" => "Two-factor reset by an operator",
        "tenant.two_factor_requirement_changed" => "Two-factor requirement changed",
        "account.created" => "Account created",
        "account.password_changed" => "Password changed",
        "account.password_change_refused" => "Password change refused",
        "password_reset.requested" => "Password reset mailed",
        "password_reset.refused" => "Password reset requests refused (too many)",
        "password_reset.opened" => "Password reset link opened",
        "password_reset.completed" => "Password reset",
        "password_reset.link_created" => "Password reset link made by an admin",
        "password_reset.set_by_operator" => "Password set by the operator",
        _ => "Other",
    }
}

/// The actions a tenant's log can hold: account events belong to no tenant, so a
/// tenant's filter does not offer them.
pub fn tenant_actions() -> impl Iterator<Item = &'static str> {
    ACTIONS
        .iter()
        .copied()
        .filter(|a| !a.starts_with("account."))
}

pub struct Event<'a> {
    pub tenant_id: Option<&'a str>,
    pub action: &'static str,
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
        let per_page = self.per_page.max(1);
        ((self.total + per_page - 1) / per_page).max(1)
    }
}

/// Refuses what is not an action the services write, naming those that are.
pub fn check_action(action: &str) -> Result<(), AppError> {
    if ACTIONS.contains(&action) {
        return Ok(());
    }
    Err(AppError::invalid(
        "action",
        format!("is not an audit action; use one of {}", ACTIONS.join(", ")),
    ))
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
    tenant_id: &str,
    w: &TeamWhere,
    limit: i64,
    offset: i64,
    order: KeyOrder,
) -> Result<AuditPage, AppError> {
    permissions::require(conn, actor, tenant_id, Permission::ReadAuditLog)?;
    if let Some(a) = &w.name_eq {
        check_action(a)?;
    }
    let total = AuditEvent::count_tenant_where(conn, tenant_id, w)?;
    let page = KeyPage::Offset {
        limit,
        offset,
        order,
    };
    let events = AuditEvent::tenant_page(conn, tenant_id, w, &page)?;
    Ok(AuditPage {
        events: describe_audit_events(conn, events)?,
        total,
        page: offset / limit.max(1) + 1,
        per_page: limit,
    })
}
