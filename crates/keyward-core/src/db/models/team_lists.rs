//! The team lists a page at a time, with the same filter for their totals: a tenant's
//! service accounts, members, pending invitations and audit events. Pages are `KeyPage`s
//! (newest first on `(created_at, id)`, or an offset in a chosen order); nothing here
//! loads a whole list.

use crate::db::models::api_key_list::{lower, KeyOrder, KeyOrderField, KeyPage};
use crate::db::models::paging::paged;
use crate::db::models::{Account, AuditEvent, Invitation, Membership};
use crate::db::schema::{accounts, api_keys, audit_events, invitations, memberships};
use crate::db::DbConnection;
use crate::domain::AccountKind;
use diesel::prelude::*;
use std::collections::HashMap;
use time::PrimitiveDateTime;

type Db = <DbConnection as Connection>::Backend;

/// Which rows of a team list: all conditions hold; `None` means "any".
#[derive(Debug, Clone, Default)]
pub struct TeamWhere {
    /// A LIKE pattern matched case-insensitively against the name (members: or email;
    /// audit events: the detail).
    pub name_like: Option<String>,
    /// The exact name (audit events: the action).
    pub name_eq: Option<String>,
    /// The account (members), the actor (audit events), the creator (invitations).
    pub account_id: Option<String>,
    /// Audit events: the actor's id, or a LIKE pattern on their name or email.
    pub actor: Option<(String, String)>,
    pub role: Option<String>,
    pub account_type: Option<AccountKind>,
    pub created_before: Option<PrimitiveDateTime>,
    pub created_after: Option<PrimitiveDateTime>,
}

fn descending(order: KeyOrder) -> bool {
    order.descending
}

impl Account {
    fn service_accounts_where<'a>(tenant_id: &str, w: &TeamWhere) -> accounts::BoxedQuery<'a, Db> {
        let mut q = accounts::table
            .filter(accounts::tenant_id.eq(tenant_id.to_string()))
            .filter(accounts::account_type.eq(AccountKind::ServiceAccount.as_str()))
            .into_boxed();
        if let Some(p) = &w.name_like {
            q = q.filter(lower(accounts::name).like(p.to_lowercase()).escape('\\'));
        }
        if let Some(n) = &w.name_eq {
            q = q.filter(accounts::name.eq(n.clone()));
        }
        if let Some(id) = &w.account_id {
            q = q.filter(accounts::id.eq(id.clone()));
        }
        if let Some(t) = w.created_before {
            q = q.filter(accounts::created_at.lt(t));
        }
        if let Some(t) = w.created_after {
            q = q.filter(accounts::created_at.gt(t));
        }
        q
    }

    /// A page of a tenant's service accounts.
    pub fn service_accounts_page(
        conn: &mut DbConnection,
        tenant_id: &str,
        w: &TeamWhere,
        page: &KeyPage,
    ) -> QueryResult<Vec<Account>> {
        let q = Self::service_accounts_where(tenant_id, w);
        let (q, reverse) = paged!(q, page, accounts::created_at, accounts::id, |q, order| {
            match (order.field, descending(order)) {
                (KeyOrderField::Name, true) => q.order((accounts::name.desc(), accounts::id.asc())),
                (KeyOrderField::Name, false) => q.order((accounts::name.asc(), accounts::id.asc())),
                (_, true) => q.order((accounts::created_at.desc(), accounts::id.desc())),
                (_, false) => q.order((accounts::created_at.asc(), accounts::id.asc())),
            }
        });
        let rows = q.select(Account::as_select()).load(conn)?;
        Ok(in_order(rows, reverse))
    }

    pub fn count_service_accounts_where(
        conn: &mut DbConnection,
        tenant_id: &str,
        w: &TeamWhere,
    ) -> QueryResult<i64> {
        Self::service_accounts_where(tenant_id, w)
            .count()
            .get_result(conn)
    }

    /// The names of these accounts, by id (one query, whatever their number).
    pub fn names_of(
        conn: &mut DbConnection,
        ids: Vec<String>,
    ) -> QueryResult<HashMap<String, (String, AccountKind)>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<(String, String, String)> = accounts::table
            .filter(accounts::id.eq_any(ids))
            .select((accounts::id, accounts::name, accounts::account_type))
            .load(conn)?;
        Ok(rows
            .into_iter()
            .map(|(id, name, kind)| {
                let kind = AccountKind::parse(&kind).unwrap_or(AccountKind::User);
                (id, (name, kind))
            })
            .collect())
    }

    /// The tenant of each of these accounts that is a service account (one query).
    pub fn tenants_of_service_accounts(
        conn: &mut DbConnection,
        ids: Vec<String>,
    ) -> QueryResult<HashMap<String, String>> {
        let rows: Vec<(String, Option<String>)> = accounts::table
            .filter(accounts::id.eq_any(ids))
            .filter(accounts::account_type.eq(AccountKind::ServiceAccount.as_str()))
            .select((accounts::id, accounts::tenant_id))
            .load(conn)?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, t)| Some((id, t?)))
            .collect())
    }

    /// How many keys each of these accounts holds (one query).
    pub fn key_counts_of(
        conn: &mut DbConnection,
        ids: Vec<String>,
    ) -> QueryResult<HashMap<String, i64>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<(String, i64)> = api_keys::table
            .filter(api_keys::account_id.eq_any(ids))
            .group_by(api_keys::account_id)
            .select((api_keys::account_id, diesel::dsl::count_star()))
            .load(conn)?;
        Ok(rows.into_iter().collect())
    }
}

/// The names of these keys, by id (one query).
pub fn key_names_of(
    conn: &mut DbConnection,
    ids: Vec<String>,
) -> QueryResult<HashMap<String, String>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, String)> = api_keys::table
        .filter(api_keys::id.eq_any(ids))
        .select((api_keys::id, api_keys::name))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

fn in_order<T>(mut rows: Vec<T>, reverse: bool) -> Vec<T> {
    if reverse {
        rows.reverse();
    }
    rows
}

type MembersSource = diesel::dsl::InnerJoin<memberships::table, accounts::table>;
type MembersQuery<'a> = diesel::dsl::IntoBoxed<'a, MembersSource, Db>;

impl Membership {
    fn members_where<'a>(tenant_id: &str, w: &TeamWhere) -> MembersQuery<'a> {
        let mut q = memberships::table
            .inner_join(accounts::table)
            .filter(memberships::tenant_id.eq(tenant_id.to_string()))
            .into_boxed();
        if let Some(p) = &w.name_like {
            let p = p.to_lowercase();
            q = q.filter(
                lower(accounts::name)
                    .like(p.clone())
                    .escape('\\')
                    .or(accounts::email.like(p).escape('\\')),
            );
        }
        if let Some(n) = &w.name_eq {
            q = q.filter(accounts::name.eq(n.clone()));
        }
        if let Some(id) = &w.account_id {
            q = q.filter(accounts::id.eq(id.clone()));
        }
        if let Some(r) = &w.role {
            q = q.filter(memberships::role.eq(r.clone()));
        }
        if let Some(k) = w.account_type {
            q = q.filter(accounts::account_type.eq(k.as_str()));
        }
        if let Some(t) = w.created_before {
            q = q.filter(memberships::created_at.lt(t));
        }
        if let Some(t) = w.created_after {
            q = q.filter(memberships::created_at.gt(t));
        }
        q
    }

    /// A page of a tenant's members (people and service accounts), by when they joined.
    pub fn members_page(
        conn: &mut DbConnection,
        tenant_id: &str,
        w: &TeamWhere,
        page: &KeyPage,
    ) -> QueryResult<Vec<(Account, Membership)>> {
        let q = Self::members_where(tenant_id, w);
        let (q, reverse) = paged!(
            q,
            page,
            memberships::created_at,
            memberships::account_id,
            |q, order| {
                match (order.field, descending(order)) {
                    (KeyOrderField::Name, true) => {
                        q.order((accounts::name.desc(), memberships::account_id.asc()))
                    }
                    (KeyOrderField::Name, false) => {
                        q.order((accounts::name.asc(), memberships::account_id.asc()))
                    }
                    (_, true) => q.order((
                        memberships::created_at.desc(),
                        memberships::account_id.desc(),
                    )),
                    (_, false) => {
                        q.order((memberships::created_at.asc(), memberships::account_id.asc()))
                    }
                }
            }
        );
        let rows = q
            .select((Account::as_select(), Membership::as_select()))
            .load(conn)?;
        Ok(in_order(rows, reverse))
    }

    pub fn count_members_where(
        conn: &mut DbConnection,
        tenant_id: &str,
        w: &TeamWhere,
    ) -> QueryResult<i64> {
        Self::members_where(tenant_id, w).count().get_result(conn)
    }
}

impl Invitation {
    fn pending_where<'a>(
        tenant_id: &str,
        now: PrimitiveDateTime,
        w: &TeamWhere,
    ) -> invitations::BoxedQuery<'a, Db> {
        let mut q = invitations::table
            .filter(invitations::tenant_id.eq(tenant_id.to_string()))
            .filter(invitations::used_at.is_null())
            .filter(invitations::expires_at.gt(now))
            .into_boxed();
        if let Some(id) = &w.account_id {
            q = q.filter(invitations::created_by.eq(id.clone()));
        }
        if let Some(r) = &w.role {
            q = q.filter(invitations::role.eq(r.clone()));
        }
        if let Some(t) = w.created_before {
            q = q.filter(invitations::created_at.lt(t));
        }
        if let Some(t) = w.created_after {
            q = q.filter(invitations::created_at.gt(t));
        }
        q
    }

    /// A page of a tenant's pending (unused, unexpired) invitations.
    pub fn pending_page(
        conn: &mut DbConnection,
        tenant_id: &str,
        now: PrimitiveDateTime,
        w: &TeamWhere,
        page: &KeyPage,
    ) -> QueryResult<Vec<Invitation>> {
        let q = Self::pending_where(tenant_id, now, w);
        let (q, reverse) = paged!(
            q,
            page,
            invitations::created_at,
            invitations::id,
            |q, order| {
                if descending(order) {
                    q.order((invitations::created_at.desc(), invitations::id.desc()))
                } else {
                    q.order((invitations::created_at.asc(), invitations::id.asc()))
                }
            }
        );
        let rows = q.select(Invitation::as_select()).load(conn)?;
        Ok(in_order(rows, reverse))
    }

    pub fn count_pending_where(
        conn: &mut DbConnection,
        tenant_id: &str,
        now: PrimitiveDateTime,
        w: &TeamWhere,
    ) -> QueryResult<i64> {
        Self::pending_where(tenant_id, now, w)
            .count()
            .get_result(conn)
    }
}

impl AuditEvent {
    fn tenant_where<'a>(tenant_id: &str, w: &TeamWhere) -> audit_events::BoxedQuery<'a, Db> {
        let mut q = audit_events::table
            .filter(audit_events::tenant_id.eq(tenant_id.to_string()))
            .into_boxed();
        if let Some(p) = &w.name_like {
            q = q.filter(
                lower(audit_events::detail)
                    .like(p.to_lowercase())
                    .escape('\\'),
            );
        }
        if let Some(a) = &w.name_eq {
            q = q.filter(audit_events::action.eq(a.clone()));
        }
        if let Some(id) = &w.account_id {
            q = q.filter(audit_events::actor_id.eq(id.clone()));
        }
        if let Some((id, pattern)) = &w.actor {
            let pattern = pattern.to_lowercase();
            let named = accounts::table
                .filter(
                    lower(accounts::name)
                        .like(pattern.clone())
                        .escape('\\')
                        .or(lower(accounts::email.assume_not_null())
                            .like(pattern)
                            .escape('\\')),
                )
                .select(accounts::id.nullable());
            q = q.filter(
                audit_events::actor_id
                    .eq(id.clone())
                    .or(audit_events::actor_id.eq_any(named)),
            );
        }
        if let Some(t) = w.created_before {
            q = q.filter(audit_events::at.lt(t));
        }
        if let Some(t) = w.created_after {
            q = q.filter(audit_events::at.gt(t));
        }
        q
    }

    /// A page of a tenant's audit events.
    pub fn tenant_page(
        conn: &mut DbConnection,
        tenant_id: &str,
        w: &TeamWhere,
        page: &KeyPage,
    ) -> QueryResult<Vec<AuditEvent>> {
        let q = Self::tenant_where(tenant_id, w);
        let (q, reverse) = paged!(q, page, audit_events::at, audit_events::id, |q, order| {
            if descending(order) {
                q.order((audit_events::at.desc(), audit_events::id.desc()))
            } else {
                q.order((audit_events::at.asc(), audit_events::id.asc()))
            }
        });
        let rows = q.select(AuditEvent::as_select()).load(conn)?;
        Ok(in_order(rows, reverse))
    }

    pub fn count_tenant_where(
        conn: &mut DbConnection,
        tenant_id: &str,
        w: &TeamWhere,
    ) -> QueryResult<i64> {
        Self::tenant_where(tenant_id, w).count().get_result(conn)
    }
}
