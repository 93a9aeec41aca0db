//! An admin's key list is their own keys and their tenants' service-account keys: two
//! owners, each with an index that gives the newest-first order. `ApiKey::page` reads each
//! side's first rows and merges them here, where one query over the OR would sort every
//! key of both sides for each page; and a page's accounts and tenants are read once for
//! the whole page.

use crate::db::models::api_key::ApiKeyListing;
use crate::db::models::api_key_list::{KeyOrderField, KeyPage, Owners};
use crate::db::models::{Account, ApiKey, Tenant};
use crate::db::schema::{accounts, tenants};
use crate::db::DbConnection;
use diesel::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;

impl Owners {
    /// One account's keys and managed service-account keys as two owners, when both.
    pub(crate) fn split(&self) -> Option<(Owners, Owners)> {
        let account = self.account.clone()?;
        let managed = self.managed.clone()?;
        Some((
            Owners {
                account: Some(account),
                managed: None,
            },
            Owners {
                account: None,
                managed: Some(managed),
            },
        ))
    }
}

impl KeyPage {
    /// The same page from the start, `rows` long (offset pages only move their offset).
    pub(crate) fn widened(&self, rows: i64) -> KeyPage {
        match self {
            KeyPage::Offset { order, .. } => KeyPage::Offset {
                limit: rows,
                offset: 0,
                order: *order,
            },
            KeyPage::OlderThan { cursor, .. } => KeyPage::OlderThan {
                limit: rows,
                cursor: cursor.clone(),
            },
            KeyPage::NewerThan { cursor, .. } => KeyPage::NewerThan {
                limit: rows,
                cursor: cursor.clone(),
            },
        }
    }
}

/// The most rows a side reads for a merged page (offset plus limit); deeper offset pages
/// are ordered by the database among each side's first ids (`ApiKey::page_of_either`).
pub(crate) const MERGE_ROWS: i64 = 2_000;

pub(crate) type KeyOrdering = fn(&ApiKey, &ApiKey) -> std::cmp::Ordering;

/// The order in which to merge two sides' rows (nearest the page's start first), the
/// page's offset and its limit, when Rust can merge in exactly the SQL order: on
/// `(created_at, id)`, which both backends compare alike. Not for names (PostgreSQL's
/// collation is not byte order) nor for columns that may be NULL (whose place differs
/// between the backends): those pages take one query over both sides.
pub(crate) fn merge_order(page: &KeyPage) -> Option<(KeyOrdering, i64, i64)> {
    let newest: KeyOrdering = |a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id));
    let oldest: KeyOrdering = |a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id));
    match page {
        KeyPage::OlderThan { limit, .. } => Some((newest, 0, *limit)),
        // The newer rows nearest the cursor are the oldest of them; reversed afterwards.
        KeyPage::NewerThan { limit, .. } => Some((oldest, 0, *limit)),
        KeyPage::Offset {
            limit,
            offset,
            order,
        } => match (order.field, order.descending) {
            (KeyOrderField::CreatedAt, true) => Some((newest, *offset, *limit)),
            (KeyOrderField::CreatedAt, false) => Some((oldest, *offset, *limit)),
            _ => None,
        },
    }
}

/// The page's keys with their accounts and tenants: two queries for the whole page.
pub(crate) fn with_owners(
    conn: &mut DbConnection,
    keys: Vec<ApiKey>,
) -> QueryResult<Vec<ApiKeyListing>> {
    let ids = |f: fn(&ApiKey) -> &String| {
        let mut ids: Vec<String> = keys.iter().map(|k| f(k).clone()).collect();
        ids.sort();
        ids.dedup();
        ids
    };
    let accounts: HashMap<String, Arc<Account>> = accounts::table
        .filter(accounts::id.eq_any(ids(|k| &k.account_id)))
        .select(Account::as_select())
        .load::<Account>(conn)?
        .into_iter()
        .map(|a| (a.id.clone(), Arc::new(a)))
        .collect();
    let tenants: HashMap<String, Arc<Tenant>> = tenants::table
        .filter(tenants::id.eq_any(ids(|k| &k.tenant_id)))
        .select(Tenant::as_select())
        .load::<Tenant>(conn)?
        .into_iter()
        .map(|t| (t.id.clone(), Arc::new(t)))
        .collect();
    keys.into_iter()
        .map(|key| {
            let account = accounts.get(&key.account_id).cloned();
            let tenant = tenants.get(&key.tenant_id).cloned();
            match (account, tenant) {
                (Some(account), Some(tenant)) => Ok(ApiKeyListing {
                    key,
                    account,
                    tenant,
                }),
                // Foreign keys make this impossible; a row deleted between the two reads
                // of one transaction cannot happen either.
                _ => Err(diesel::result::Error::NotFound),
            }
        })
        .collect()
}
