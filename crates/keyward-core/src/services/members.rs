//! Members of a tenant: listed by admins, managed by human admins (roles, removal), added
//! directly only by operators (everyone else joins through an invitation).

use crate::db::lock_tenant;
use crate::db::models::{Account, ApiKey, Invitation, Membership};
use crate::db::DbConnection;
use crate::domain::{AccountId, AccountKind, AuditAction, Role, TenantId};
use crate::error::{on_unique_violation, AppError};
use crate::services::audit::{self, Event};
use crate::services::permissions::{self, require_operator, Permission};
use crate::services::{api_keys, outbox, transaction, Actor};
use time::PrimitiveDateTime;

#[derive(Debug, Clone)]
pub struct Member {
    pub account: Account,
    pub role: Role,
    pub joined_at: PrimitiveDateTime,
}

pub fn list_members(
    conn: &mut DbConnection,
    actor: &Actor,
    tenant_id: &TenantId,
) -> Result<Vec<Member>, AppError> {
    permissions::require(conn, actor, tenant_id, Permission::ListMembers)?;
    Ok(Membership::members_of(conn, tenant_id.as_str())?
        .into_iter()
        .map(|(account, m)| Member {
            role: m.role_shown(),
            joined_at: m.created_at,
            account,
        })
        .collect())
}

/// Adds a person to a tenant directly: operators only.
pub fn add_member(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    tenant_id: &TenantId,
    account_id: &AccountId,
    role: Role,
) -> Result<Membership, AppError> {
    require_operator(actor, "adding members directly")?;
    transaction(conn, |conn| {
        insert_membership(
            conn,
            actor,
            now,
            tenant_id,
            account_id,
            role,
            AuditAction::MemberAdded,
        )
    })
}

pub(crate) fn insert_membership(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    tenant_id: &TenantId,
    account_id: &AccountId,
    role: Role,
    action: AuditAction,
) -> Result<Membership, AppError> {
    let account = Account::find(conn, account_id.as_str())?
        .ok_or_else(|| AppError::not_found("account not found"))?;
    if account.is_service_account() {
        return Err(AppError::invalid(
            "account",
            "a service account belongs to its own tenant only and cannot be added to others",
        ));
    }
    if Membership::find(conn, account_id.as_str(), tenant_id.as_str())?.is_some() {
        return Err(AppError::Conflict(format!(
            "{} is already a member of this tenant",
            account.name
        )));
    }
    let membership = Membership {
        account_id: account_id.to_string(),
        tenant_id: tenant_id.to_string(),
        role: role.as_str().to_string(),
        created_at: now,
    };
    crate::services::webhooks::enqueue_event(
        conn,
        now,
        tenant_id,
        crate::services::webhooks::WebhookEvent::MemberAdded,
        serde_json::json!({ "user_id": account.id, "name": account.name, "tenant_id": tenant_id.to_string(), "role": role.as_str() }),
    )?;
    membership.insert(conn).map_err(on_unique_violation(|| {
        AppError::Conflict(format!(
            "{} is already a member of this tenant",
            account.name
        ))
    }))?;
    audit::record(
        conn,
        actor,
        now,
        Event {
            tenant_id: Some(tenant_id.as_str()),
            action,
            target_id: Some(account_id.as_str()),
            detail: format!("{} joined as {}", account.name, role.label()),
        },
    )?;
    Ok(membership)
}

fn find_member(
    conn: &mut DbConnection,
    tenant_id: &TenantId,
    account_id: &AccountId,
) -> Result<(Account, Membership), AppError> {
    let membership = Membership::find(conn, account_id.as_str(), tenant_id.as_str())?
        .ok_or_else(|| AppError::not_found("that account is not a member of this tenant"))?;
    let account = Account::find(conn, account_id.as_str())?
        .ok_or_else(|| AppError::not_found("account not found"))?;
    Ok((account, membership))
}

/// How many people (not service accounts) are admins of the tenant, for the members page:
/// the last one is shown without a Remove button. The page's own listing checked the
/// caller's permission.
pub fn human_admin_count(conn: &mut DbConnection, tenant_id: &TenantId) -> Result<usize, AppError> {
    Ok(Membership::count_human_admins(conn, tenant_id.as_str())?.max(0) as usize)
}

/// Refuses to leave a tenant without a human admin.
fn keep_a_human_admin(
    conn: &mut DbConnection,
    tenant_id: &TenantId,
    account: &Account,
    membership: &Membership,
    what: &str,
) -> Result<(), AppError> {
    if account.kind() == AccountKind::User
        && membership.role() == Some(Role::Admin)
        && Membership::count_human_admins(conn, tenant_id.as_str())? <= 1
    {
        return Err(AppError::Conflict(format!(
            "the last human admin of a tenant cannot be {what}; make someone else an admin first"
        )));
    }
    Ok(())
}

pub fn change_role(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    tenant_id: &TenantId,
    account_id: &AccountId,
    role: Role,
) -> Result<Member, AppError> {
    transaction(conn, |conn| {
        lock_tenant(conn, tenant_id.as_str())?;
        permissions::require(conn, actor, tenant_id, Permission::ManagePeople)?;
        let (account, membership) = find_member(conn, tenant_id, account_id)?;
        if membership.role() != Some(role) {
            if role != Role::Admin {
                keep_a_human_admin(conn, tenant_id, &account, &membership, "demoted")?;
                revoke_invitations_created_by(conn, actor, now, tenant_id, &account)?;
            }
            Membership::set_role(conn, &account.id, tenant_id.as_str(), role)?;
            crate::services::sessions::rotate_csrf_tokens(conn, &account.account_id())?;
            audit::record(
                conn,
                actor,
                now,
                Event {
                    tenant_id: Some(tenant_id.as_str()),
                    action: AuditAction::MemberRoleChanged,
                    target_id: Some(&account.id),
                    detail: format!(
                        "{}: {} → {}",
                        account.name,
                        membership
                            .role()
                            .map_or(membership.role.as_str(), |r| r.label()),
                        role.label()
                    ),
                },
            )?;
        }
        Ok(Member {
            account,
            role,
            joined_at: membership.created_at,
        })
    })
}

/// Removes a person from a tenant; their keys for it are deleted, each audited.
pub fn remove_member(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    tenant_id: &TenantId,
    account_id: &AccountId,
) -> Result<Account, AppError> {
    transaction(conn, |conn| {
        lock_tenant(conn, tenant_id.as_str())?;
        permissions::require(conn, actor, tenant_id, Permission::ManagePeople)?;
        let (account, membership) = find_member(conn, tenant_id, account_id)?;
        if account.is_service_account() {
            return Err(AppError::invalid(
                "account_id",
                "that is a service account: remove it with remove_service_account",
            ));
        }
        keep_a_human_admin(conn, tenant_id, &account, &membership, "removed")?;
        revoke_invitations_created_by(conn, actor, now, tenant_id, &account)?;
        for key in ApiKey::of_account(conn, &account.id, Some(tenant_id.as_str()))? {
            api_keys::delete_key_audited(
                conn,
                actor,
                now,
                &key,
                "deleted because its owner left the tenant",
            )?;
        }
        Membership::delete(conn, &account.id, tenant_id.as_str())?;
        audit::record(
            conn,
            actor,
            now,
            Event {
                tenant_id: Some(tenant_id.as_str()),
                action: AuditAction::MemberRemoved,
                target_id: Some(&account.id),
                detail: format!("{} removed", account.name),
            },
        )?;
        crate::services::webhooks::enqueue_event(
            conn,
            now,
            tenant_id,
            crate::services::webhooks::WebhookEvent::MemberRemoved,
            serde_json::json!({ "user_id": account.id, "name": account.name, "tenant_id": tenant_id }),
        )?;
        Ok(account)
    })
}

/// How many keys a member holds for the tenant (what removing them would delete); for
/// those who may remove members.
pub fn count_member_keys(
    conn: &mut DbConnection,
    actor: &Actor,
    tenant_id: &TenantId,
    account_id: &AccountId,
) -> Result<usize, AppError> {
    permissions::require(conn, actor, tenant_id, Permission::ManagePeople)?;
    Ok(ApiKey::count_of_account_in(conn, account_id.as_str(), tenant_id.as_str())? as usize)
}

/// Revokes the unused links an account made for a tenant, each audited: called when it
/// stops being an admin there (demoted or removed), so its links lose their power with it.
fn revoke_invitations_created_by(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    tenant_id: &TenantId,
    creator: &Account,
) -> Result<(), AppError> {
    for invitation in Invitation::unused_created_by(conn, tenant_id.as_str(), &creator.id)? {
        let detail = format!(
            "{}, because {} who made it is no longer an admin",
            invitation.described(),
            creator.name
        );
        revoke_invitation(conn, actor, now, &invitation, detail)?;
    }
    Ok(())
}

/// Deletes an invitation, cancels its mail if not yet sent, and audits it as revoked
/// with `detail` (an admin revoking it, or its maker no longer an admin).
pub(crate) fn revoke_invitation(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    invitation: &Invitation,
    detail: String,
) -> Result<(), AppError> {
    Invitation::delete(conn, &invitation.id)?;
    outbox::cancel_about(conn, &invitation.id, now)?;
    let revoked = Event {
        tenant_id: Some(&invitation.tenant_id),
        action: AuditAction::InvitationRevoked,
        target_id: Some(&invitation.id),
        detail,
    };
    audit::record(conn, actor, now, revoked)
}
