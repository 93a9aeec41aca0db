//! Key lists a page at a time: which keys (`KeyOwners`), which of them (`KeyWhere`), in
//! which order and from where (`KeyPage`). Every list query is bounded by its page; a
//! count with the same filter gives the total.

use crate::db::models::api_key::ApiKeyListing;
use crate::db::models::api_key_merge::{merge_order, with_owners, MERGE_ROWS};
use crate::db::models::paging::{paged, Cursor};
use crate::db::models::ApiKey;
use crate::db::schema::{accounts, api_keys};
use crate::db::DbConnection;
use crate::domain::AccountKind;
use diesel::prelude::*;
use time::PrimitiveDateTime;

type Db = <DbConnection as Connection>::Backend;
type Boxed<'a> = diesel::dsl::IntoBoxed<'a, api_keys::table, Db>;

diesel::define_sql_function! {
    /// `lower(text)`: both backends have it, so a case-insensitive match is one spelling.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// Whose keys: one account's (optionally in one tenant), and/or every service-account
/// key of some tenants. Both given means either.
#[derive(Debug, Clone, Default)]
pub struct KeyOwners {
    pub account: Option<(String, Option<String>)>,
    pub service_accounts_in: Vec<String>,
}

/// Conditions, all of which must hold. `None` means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct KeyWhere {
    /// A LIKE pattern matched case-insensitively against the name.
    pub name_like: Option<String>,
    pub created_before: Option<PrimitiveDateTime>,
    pub created_after: Option<PrimitiveDateTime>,
    pub expires_before: Option<PrimitiveDateTime>,
    pub expires_after: Option<PrimitiveDateTime>,
    /// Some(true): never expires; Some(false): has an expiry.
    pub expires_is_null: Option<bool>,
    /// Not expired at this time (no expiry, or a later one).
    pub unexpired_at: Option<PrimitiveDateTime>,
    /// Expired at this time.
    pub expired_at: Option<PrimitiveDateTime>,
    pub never_used: Option<bool>,
    /// Some(false): not replaced by a rotation (still meant to work).
    pub rotated: Option<bool>,
    pub used_before: Option<PrimitiveDateTime>,
    pub used_after: Option<PrimitiveDateTime>,
    /// The exact name.
    pub key_name: Option<String>,
    pub key_id: Option<String>,
    /// Any of these keys.
    pub key_ids: Option<Vec<String>>,
    pub account_id: Option<String>,
    /// Keys of any of these accounts.
    pub account_ids: Option<Vec<String>>,
    pub tenant_id: Option<String>,
    /// Keys of none of these tenants.
    pub tenants_left_out: Option<Vec<String>>,
    pub account_type: Option<AccountKind>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyOrderField {
    CreatedAt,
    Name,
    ExpiresAt,
    LastUsedAt,
}

/// A sort key and direction; ties are broken by id so pages never overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyOrder {
    pub field: KeyOrderField,
    pub descending: bool,
}

impl Default for KeyOrder {
    /// Newest first, as every list shows keys.
    fn default() -> Self {
        Self {
            field: KeyOrderField::CreatedAt,
            descending: true,
        }
    }
}

/// Where a page starts: an offset (GraphQL), or just past a key of the newest-first order
/// (the dashboard's keyset pages, which cost the same however deep they go).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyPage {
    Offset {
        limit: i64,
        offset: i64,
        order: KeyOrder,
    },
    /// Keys older than this one, newest first.
    OlderThan { limit: i64, cursor: Option<Cursor> },
    /// Keys newer than this one, answered newest first.
    NewerThan { limit: i64, cursor: Cursor },
}

type Condition = Box<dyn BoxableExpression<api_keys::table, Db, SqlType = diesel::sql_types::Bool>>;

/// `KeyOwners` with its service accounts looked up: the ids of the managed service
/// accounts and their tenants. Looked up first, because the planners cannot know how
/// many service accounts a subquery finds: with none (most tenants) both SQLite and
/// PostgreSQL walked all of a person's keys in page order, filtering each, for a
/// `where: {name: {_eq: …}}` at 1,000,000 keys (5 s and 2 s). Known ids and tenants
/// make each side an index range: (account, tenant, name | created_at | …).
#[derive(Debug, Clone, Default)]
pub(crate) struct Owners {
    pub(crate) account: Option<(String, Option<String>)>,
    /// Service accounts (their ids and tenants); `None` when none are asked for, and
    /// when the tenants asked for have none.
    pub(crate) managed: Option<(Vec<String>, Vec<String>)>,
}

impl Owners {
    /// At most `max_service_accounts_per_tenant` ids a tenant, for the tenants where
    /// the caller is an admin.
    fn of(conn: &mut DbConnection, owners: &KeyOwners) -> QueryResult<Owners> {
        let managed = if owners.service_accounts_in.is_empty() {
            None
        } else {
            let ids: Vec<String> = accounts::table
                .select(accounts::id)
                .filter(accounts::account_type.eq(AccountKind::ServiceAccount.as_str()))
                .filter(accounts::tenant_id.eq_any(owners.service_accounts_in.clone()))
                .load(conn)?;
            (!ids.is_empty()).then(|| (ids, owners.service_accounts_in.clone()))
        };
        Ok(Owners {
            account: owners.account.clone(),
            managed,
        })
    }
}

/// The owners' condition: one account's keys (maybe in one tenant) or managed
/// service-account keys, or both; nobody's when neither is given.
fn owned_by(owners: &Owners) -> Condition {
    let own: Option<Condition> = owners.account.as_ref().map(|(account, tenant)| {
        let mine = api_keys::account_id.eq(account.clone());
        match tenant {
            Some(t) => Box::new(mine.and(api_keys::tenant_id.eq(t.clone()))) as Condition,
            None => Box::new(mine) as Condition,
        }
    });
    let managed: Option<Condition> = owners.managed.as_ref().map(|(ids, tenants)| {
        // A service account belongs to one tenant and holds keys only there (a key needs
        // a membership, and a service account has only its own tenant's), so the tenant
        // condition keeps the same keys and lets the (account, tenant, …) indexes serve.
        Box::new(
            api_keys::account_id
                .eq_any(ids.clone())
                .and(api_keys::tenant_id.eq_any(tenants.clone())),
        ) as Condition
    });
    match (own, managed) {
        (Some(a), Some(b)) => Box::new(a.or(b)),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => Box::new(false.into_sql::<diesel::sql_types::Bool>()),
    }
}

fn filtered<'a>(owners: &Owners, w: &KeyWhere) -> Boxed<'a> {
    matching(api_keys::table.into_boxed().filter(owned_by(owners)), w)
}

/// `q` narrowed by every condition of `w`.
fn matching<'a>(mut q: Boxed<'a>, w: &KeyWhere) -> Boxed<'a> {
    if let Some(p) = &w.name_like {
        q = q.filter(lower(api_keys::name).like(p.to_lowercase()).escape('\\'));
    }
    if let Some(t) = w.created_before {
        q = q.filter(api_keys::created_at.lt(t));
    }
    if let Some(t) = w.created_after {
        q = q.filter(api_keys::created_at.gt(t));
    }
    if let Some(t) = w.expires_before {
        q = q.filter(api_keys::expires_at.lt(t));
    }
    if let Some(t) = w.expires_after {
        q = q.filter(api_keys::expires_at.gt(t));
    }
    match w.expires_is_null {
        Some(true) => q = q.filter(api_keys::expires_at.is_null()),
        Some(false) => q = q.filter(api_keys::expires_at.is_not_null()),
        None => {}
    }
    if let Some(t) = w.unexpired_at {
        q = q.filter(
            api_keys::expires_at
                .is_null()
                .or(api_keys::expires_at.gt(t)),
        );
    }
    if let Some(t) = w.expired_at {
        q = q.filter(api_keys::expires_at.le(t));
    }
    match w.never_used {
        Some(true) => q = q.filter(api_keys::last_used_at.is_null()),
        Some(false) => q = q.filter(api_keys::last_used_at.is_not_null()),
        None => {}
    }
    match w.rotated {
        Some(true) => q = q.filter(api_keys::rotated_to_key_id.is_not_null()),
        Some(false) => q = q.filter(api_keys::rotated_to_key_id.is_null()),
        None => {}
    }
    if let Some(t) = w.used_before {
        q = q.filter(api_keys::last_used_at.lt(t));
    }
    if let Some(t) = w.used_after {
        q = q.filter(api_keys::last_used_at.gt(t));
    }
    if let Some(n) = &w.key_name {
        q = q.filter(api_keys::name.eq(n.clone()));
    }
    if let Some(id) = &w.key_id {
        q = q.filter(api_keys::id.eq(id.clone()));
    }
    if let Some(ids) = &w.key_ids {
        q = q.filter(api_keys::id.eq_any(ids.clone()));
    }
    if let Some(ids) = &w.account_ids {
        q = q.filter(api_keys::account_id.eq_any(ids.clone()));
    }
    if let Some(a) = &w.account_id {
        q = q.filter(api_keys::account_id.eq(a.clone()));
    }
    if let Some(t) = &w.tenant_id {
        q = q.filter(api_keys::tenant_id.eq(t.clone()));
    }
    if let Some(ts) = &w.tenants_left_out {
        q = q.filter(api_keys::tenant_id.ne_all(ts.clone()));
    }
    if let Some(k) = w.account_type {
        q = q.filter(
            api_keys::account_id.eq_any(
                accounts::table
                    .select(accounts::id)
                    .filter(accounts::account_type.eq(k.as_str())),
            ),
        );
    }
    q
}

fn ordered<'a>(q: Boxed<'a>, order: KeyOrder) -> Boxed<'a> {
    use KeyOrderField::*;
    match (order.field, order.descending) {
        (CreatedAt, true) => q.order((api_keys::created_at.desc(), api_keys::id.desc())),
        (CreatedAt, false) => q.order((api_keys::created_at.asc(), api_keys::id.asc())),
        // Ties run the same way as the sort key, so one index read backwards gives it.
        (Name, true) => q.order((api_keys::name.desc(), api_keys::id.desc())),
        (Name, false) => q.order((api_keys::name.asc(), api_keys::id.asc())),
        (ExpiresAt, true) => q.order((api_keys::expires_at.desc(), api_keys::id.desc())),
        (ExpiresAt, false) => q.order((api_keys::expires_at.asc(), api_keys::id.asc())),
        (LastUsedAt, true) => q.order((api_keys::last_used_at.desc(), api_keys::id.desc())),
        (LastUsedAt, false) => q.order((api_keys::last_used_at.asc(), api_keys::id.asc())),
    }
}

impl ApiKey {
    /// One page of keys with owner and tenant, in the page's order.
    pub fn page(
        conn: &mut DbConnection,
        owners: &KeyOwners,
        w: &KeyWhere,
        page: &KeyPage,
    ) -> QueryResult<Vec<ApiKeyListing>> {
        let owners = &Owners::of(conn, owners)?;
        let keys = if w.key_name.is_some() {
            Self::page_named(conn, owners, w, page)?
        } else {
            Self::page_in_order(conn, owners, w, page)?
        };
        with_owners(conn, keys)
    }

    /// A page of keys with one name: an account holds at most one key of a name in a
    /// tenant, so the matching ids are few (one a tenant of the account, one a managed
    /// service account) and are read first, without an order, from the name index; the
    /// page is then ordered among them. Asked in one query, SQLite (which keeps no
    /// statistics) walks the order's index through all of a person's keys to avoid a
    /// sort of a handful: 5 s at 1,000,000 keys.
    fn page_named(
        conn: &mut DbConnection,
        owners: &Owners,
        w: &KeyWhere,
        page: &KeyPage,
    ) -> QueryResult<Vec<ApiKey>> {
        let named = |conn: &mut DbConnection, owners: &Owners| -> QueryResult<Vec<String>> {
            filtered(owners, w).select(api_keys::id).load(conn)
        };
        // Each side alone: over the OR, a planner may read neither side by name.
        let ids = match owners.split() {
            Some((own, managed)) => {
                let mut ids = named(conn, &own)?;
                ids.extend(named(conn, &managed)?);
                ids
            }
            None => named(conn, owners)?,
        };
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Self::page_among(conn, ids, page)
    }

    /// A page in the page's order, each owner's side from its own index.
    fn page_in_order(
        conn: &mut DbConnection,
        owners: &Owners,
        w: &KeyWhere,
        page: &KeyPage,
    ) -> QueryResult<Vec<ApiKey>> {
        Ok(match (owners.split(), merge_order(page)) {
            (Some((own, managed)), Some((order, offset, limit)))
                if offset + limit <= MERGE_ROWS =>
            {
                // Each side reads its first `offset + limit` rows in order from its own
                // index; merging them gives the union's, where one query over the OR
                // would have sorted every key of both sides for each page.
                let wider = page.widened(offset + limit);
                let mut keys = Self::page_keys(conn, &own, w, &wider)?;
                keys.extend(Self::page_keys(conn, &managed, w, &wider)?);
                keys.sort_by(order);
                // A service account acting through its key may be on both sides.
                let mut seen = std::collections::HashSet::new();
                keys.retain(|k| seen.insert(k.id.clone()));
                let mut keys: Vec<ApiKey> = keys
                    .into_iter()
                    .skip(offset as usize)
                    .take(limit as usize)
                    .collect();
                if matches!(page, KeyPage::NewerThan { .. }) {
                    keys.reverse();
                }
                keys
            }
            (Some((own, managed)), _) => Self::page_of_either(conn, (&own, &managed), w, page)?,
            _ => Self::page_keys(conn, owners, w, page)?,
        })
    }

    /// A page of keys of either owner that Rust cannot merge (another order, or deeper
    /// than `MERGE_ROWS`): each side's first rows up to the page's end are read as ids
    /// from its own index; when one side has none the other side's page is read alone
    /// (an index range however many keys it holds), else the database orders the page
    /// among those ids, at most twice `MAX_OFFSET` plus the page. One query over the OR
    /// would sort every key of both sides.
    fn page_of_either(
        conn: &mut DbConnection,
        (own, managed): (&Owners, &Owners),
        w: &KeyWhere,
        page: &KeyPage,
    ) -> QueryResult<Vec<ApiKey>> {
        let rows = match page {
            KeyPage::Offset { limit, offset, .. } => offset + limit,
            KeyPage::OlderThan { limit, .. } | KeyPage::NewerThan { limit, .. } => *limit,
        };
        let wider = page.widened(rows);
        // Service-account keys first: usually few or none, so the person's own side,
        // which may hold a million, is then read once, as its page alone.
        let managed_ids = Self::page_ids(conn, managed, w, &wider)?;
        if managed_ids.is_empty() {
            return Self::page_keys(conn, own, w, page);
        }
        let own_ids = Self::page_ids(conn, own, w, &wider)?;
        if own_ids.is_empty() {
            return Self::page_keys(conn, managed, w, page);
        }
        let mut ids = own_ids;
        ids.extend(managed_ids);
        Self::page_among(conn, ids, page)
    }

    /// The page among these keys, in the page's order.
    fn page_among(
        conn: &mut DbConnection,
        mut ids: Vec<String>,
        page: &KeyPage,
    ) -> QueryResult<Vec<ApiKey>> {
        ids.sort_unstable();
        ids.dedup();
        let among = KeyWhere {
            key_ids: Some(ids),
            ..KeyWhere::default()
        };
        // Every id meets the owners' condition; left out, so the planner reads the ids
        // by primary key rather than the owners' index.
        Self::load_page(conn, matching(api_keys::table.into_boxed(), &among), page)
    }

    /// The ids of one query's page, in the page's order (an index-only read where an
    /// index covers the order).
    fn page_ids(
        conn: &mut DbConnection,
        owners: &Owners,
        w: &KeyWhere,
        page: &KeyPage,
    ) -> QueryResult<Vec<String>> {
        let q = filtered(owners, w);
        let (q, _) = paged!(q, page, api_keys::created_at, api_keys::id, |q, order| {
            ordered(q, order)
        });
        q.select(api_keys::id).load(conn)
    }

    /// One query's page, in the page's order.
    fn page_keys(
        conn: &mut DbConnection,
        owners: &Owners,
        w: &KeyWhere,
        page: &KeyPage,
    ) -> QueryResult<Vec<ApiKey>> {
        Self::load_page(conn, filtered(owners, w), page)
    }

    /// The keys `q` selects on `page`, in the page's order.
    fn load_page(conn: &mut DbConnection, q: Boxed, page: &KeyPage) -> QueryResult<Vec<ApiKey>> {
        let (q, reverse) = paged!(q, page, api_keys::created_at, api_keys::id, |q, order| {
            ordered(q, order)
        });
        let mut keys: Vec<ApiKey> = q.select(ApiKey::as_select()).load(conn)?;
        if reverse {
            keys.reverse();
        }
        Ok(keys)
    }

    /// How many keys `page` would page through.
    pub fn count(conn: &mut DbConnection, owners: &KeyOwners, w: &KeyWhere) -> QueryResult<i64> {
        let owners = &Owners::of(conn, owners)?;
        if let Some((own, managed)) = owners.split() {
            // A person's keys and service-account keys are different keys: each side is
            // counted on its own index, where one count over the OR collects every
            // matching row id first (a few MiB for 100,000 keys). A service account acting
            // through its key may be on both sides, and is counted over the OR.
            let (account, _) = own.account.as_ref().expect("split keeps the account");
            let is_person = accounts::table
                .find(account)
                .select(accounts::account_type)
                .first::<String>(conn)
                .optional()?
                .is_some_and(|kind| kind != AccountKind::ServiceAccount.as_str());
            if is_person {
                let own: i64 = filtered(&own, w).count().get_result(conn)?;
                let managed: i64 = filtered(&managed, w).count().get_result(conn)?;
                return Ok(own + managed);
            }
        }
        filtered(owners, w).count().get_result(conn)
    }

    /// How many keys an account holds in a tenant (what its quota counts).
    pub fn count_of_account_in(
        conn: &mut DbConnection,
        account_id: &str,
        tenant_id: &str,
    ) -> QueryResult<i64> {
        api_keys::table
            .filter(api_keys::account_id.eq(account_id))
            .filter(api_keys::tenant_id.eq(tenant_id))
            .count()
            .get_result(conn)
    }
}

/// Escapes `%`, `_` and `\` so typed text matches itself; wraps it as "contains".
pub fn contains_pattern(text: &str) -> String {
    let mut out = String::from("%");
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}
