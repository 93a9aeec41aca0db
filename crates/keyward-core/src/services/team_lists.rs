//! The team lists a page at a time, for those allowed to see them: a tenant's service
//! accounts, members, pending invitations and audit events. Each comes as a keyset page
//! with its total (the dashboard), as an offset page (GraphQL) and as a count (GraphQL
//! aggregates). Names a page shows are looked up for the whole page in one query.

use crate::db::models::api_key_list::KeyPage;
use crate::db::models::team_lists::TeamWhere;
use crate::db::models::{Account, AuditEvent, Invitation, Membership};
use crate::db::DbConnection;
use crate::domain::TenantId;
use crate::error::AppError;
use crate::services::audit::{self, AuditEntry};
use crate::services::invitations::PendingInvitation;
use crate::services::members::Member;
use crate::services::paging::{keyset, Keyset};
use crate::services::permissions::{self, Permission};
use crate::services::service_accounts::ServiceAccount;
use crate::services::Actor;
use time::PrimitiveDateTime;

/// Which list, in which tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeamList {
    ServiceAccounts,
    Members,
    Invitations,
    AuditEvents,
}

impl TeamList {
    fn permission(self) -> Permission {
        match self {
            TeamList::ServiceAccounts => Permission::ManageServiceAccounts,
            TeamList::Members => Permission::ListMembers,
            TeamList::Invitations => Permission::ManagePeople,
            TeamList::AuditEvents => Permission::ReadAuditLog,
        }
    }
}

/// How many rows of `list` match `w`; for those who may see the list.
/// Whether the actor may see `list` in the tenant (a dialog that adds to it opens only
/// then): the permission `count` checks, without counting.
pub fn require_access(
    conn: &mut DbConnection,
    actor: &Actor,
    list: TeamList,
    tenant_id: &TenantId,
) -> Result<(), AppError> {
    permissions::require(conn, actor, tenant_id, list.permission()).map(drop)
}

pub fn count(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    list: TeamList,
    tenant_id: &TenantId,
    w: &TeamWhere,
) -> Result<i64, AppError> {
    permissions::require(conn, actor, tenant_id, list.permission())?;
    Ok(match list {
        TeamList::ServiceAccounts => {
            Account::count_service_accounts_where(conn, tenant_id.as_str(), w)?
        }
        TeamList::Members => Membership::count_members_where(conn, tenant_id.as_str(), w)?,
        TeamList::Invitations => Invitation::count_pending_where(conn, tenant_id.as_str(), now, w)?,
        TeamList::AuditEvents => AuditEvent::count_tenant_where(conn, tenant_id.as_str(), w)?,
    })
}

/// Service accounts with their roles, key counts and creators' names: three queries for the page.
pub fn describe_service_accounts(
    conn: &mut DbConnection,
    accounts: Vec<Account>,
) -> Result<Vec<ServiceAccount>, AppError> {
    let ids: Vec<String> = accounts.iter().map(|a| a.id.clone()).collect();
    let roles = match accounts.first().and_then(|a| a.tenant_id.as_deref()) {
        Some(tenant_id) => Membership::of_accounts_in(conn, tenant_id, &ids)?,
        None => Default::default(),
    };
    let counts = Account::key_counts_of(conn, ids)?;
    let creators = accounts
        .iter()
        .filter_map(|a| a.created_by.clone())
        .collect();
    let names = Account::names_of(conn, creators)?;
    Ok(accounts
        .into_iter()
        .map(|account| ServiceAccount {
            role: roles.get(&account.id).and_then(Membership::role),
            key_count: counts.get(&account.id).copied().unwrap_or(0),
            creator_name: account
                .created_by
                .as_ref()
                .and_then(|c| names.get(c))
                .map(|(name, _)| name.clone()),
            account,
        })
        .collect())
}

fn describe_members(rows: Vec<(Account, Membership)>) -> Vec<Member> {
    rows.into_iter()
        .map(|(account, m)| Member {
            role: m.role_shown(),
            joined_at: m.created_at,
            account,
        })
        .collect()
}

fn describe_invitations(
    conn: &mut DbConnection,
    rows: Vec<Invitation>,
) -> Result<Vec<PendingInvitation>, AppError> {
    let names = Account::names_of(conn, rows.iter().map(|i| i.created_by.clone()).collect())?;
    Ok(rows
        .into_iter()
        .map(|invitation| PendingInvitation {
            created_by_name: names.get(&invitation.created_by).map(|(n, _)| n.clone()),
            invitation,
        })
        .collect())
}

macro_rules! team_list {
    ($(#[$doc:meta])* $list:ident, $page:ident, $keyset:ident, $item:ty,
     |$conn:ident, $tenant:ident, $now:ident, $w:ident, $p:ident| $fetch:expr,
     |$row:ident| $cursor:expr,
     |$c2:ident, $rows:ident| $describe:expr) => {
        $(#[$doc])*
        pub fn $page(
            $conn: &mut DbConnection,
            actor: &Actor,
            $now: PrimitiveDateTime,
            $tenant: &TenantId,
            $w: &TeamWhere,
            $p: &KeyPage,
        ) -> Result<Vec<$item>, AppError> {
            permissions::require($conn, actor, $tenant, TeamList::$list.permission())?;
            let $rows = $fetch?;
            let $c2 = $conn;
            $describe
        }

        $(#[$doc])*
        #[doc = "With the total and whether Newer and Older lead anywhere."]
        pub fn $keyset(
            $conn: &mut DbConnection,
            actor: &Actor,
            $now: PrimitiveDateTime,
            $tenant: &TenantId,
            $w: &TeamWhere,
            page: &KeyPage,
        ) -> Result<Keyset<$item>, AppError> {
            let total = count($conn, actor, $now, TeamList::$list, $tenant, $w)?;
            let found = keyset(page, total, |$p| $fetch, |$row| $cursor)?;
            let $c2 = $conn;
            found.try_map(|$rows| $describe)
        }
    };
}

team_list!(
    /// A page of a tenant's service accounts; admins.
    ServiceAccounts, service_accounts, service_accounts_keyset, ServiceAccount,
    |conn, tenant_id, now, w, p| {
        let _ = now;
        Account::service_accounts_page(conn, tenant_id.as_str(), w, p)
    },
    |a| (a.created_at, a.id.clone()),
    |conn, rows| describe_service_accounts(conn, rows)
);

team_list!(
    /// A page of a tenant's members, people and service accounts; admins.
    Members, members, members_keyset, Member,
    |conn, tenant_id, now, w, p| {
        let _ = now;
        Membership::members_page(conn, tenant_id.as_str(), w, p)
    },
    |row| (row.1.created_at, row.1.account_id.clone()),
    |conn, rows| {
        let _ = conn;
        Ok(describe_members(rows))
    }
);

team_list!(
    /// A page of a tenant's pending invitations; human admins.
    Invitations, invitations, invitations_keyset, PendingInvitation,
    |conn, tenant_id, now, w, p| Invitation::pending_page(conn, tenant_id.as_str(), now, w, p),
    |i| (i.created_at, i.id.clone()),
    |conn, rows| describe_invitations(conn, rows)
);

team_list!(
    /// A page of a tenant's audit log; admins.
    AuditEvents, audit_events, audit_events_keyset, AuditEntry,
    |conn, tenant_id, now, w, p| {
        let _ = now;
        AuditEvent::tenant_page(conn, tenant_id.as_str(), w, p)
    },
    |e| (e.at, e.id.clone()),
    |conn, rows| audit::describe_audit_events(conn, rows)
);
