//! Key lists, a page at a time, with their totals: your own keys (the dashboard), the keys
//! `auth_api_key` shows, and one service account's keys. Every answer is bounded by its
//! page; nothing here loads a whole list.

use crate::db::models::api_key::ApiKeyListing;
use crate::db::models::api_key_batch::page_ids_per_account;
use crate::db::models::api_key_client::KeyClient;
use crate::db::models::api_key_list::{KeyOrder, KeyOrderField, KeyOwners, KeyPage, KeyWhere};
use crate::db::models::oidc::TenantSsoRequirement;
use crate::db::models::{Account, ApiKey, Membership};
use crate::db::DbConnection;
use crate::domain::{AccountId, ApiKeyId, InvalidInput, TenantId};
use crate::error::AppError;
use crate::services::paging::{keyset, Keyset};
use crate::services::permissions::{self, Permission};
use crate::services::{key_expiry, service_accounts, Actor};
use std::collections::HashMap;
use time::PrimitiveDateTime;

/// The dashboard's key filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyFilter {
    #[default]
    All,
    Active,
    Expired,
    /// Expiring soon: see `key_expiry::WARN_DAYS`.
    ExpiringSoon,
    NeverUsed,
}

impl KeyFilter {
    pub const ALL: [KeyFilter; 5] = [
        KeyFilter::All,
        KeyFilter::Active,
        KeyFilter::Expired,
        KeyFilter::ExpiringSoon,
        KeyFilter::NeverUsed,
    ];

    /// The name in URLs (`?filter=expiring`); unknown names mean "all".
    pub fn parse(raw: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == raw.trim())
            .unwrap_or_default()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyFilter::All => "all",
            KeyFilter::Active => "active",
            KeyFilter::Expired => "expired",
            KeyFilter::ExpiringSoon => "expiring",
            KeyFilter::NeverUsed => "never-used",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            KeyFilter::All => "All",
            KeyFilter::Active => "Active",
            KeyFilter::Expired => "Expired",
            KeyFilter::ExpiringSoon => "Expiring within 7 days",
            KeyFilter::NeverUsed => "Never used",
        }
    }

    /// Adds this filter's conditions at `now`.
    pub fn apply(self, w: &mut KeyWhere, now: PrimitiveDateTime) {
        match self {
            KeyFilter::All => {}
            KeyFilter::Active => w.unexpired_at = Some(now),
            KeyFilter::Expired => w.expired_at = Some(now),
            KeyFilter::ExpiringSoon => key_expiry::expiring_where(w, now, key_expiry::WARN_DAYS),
            KeyFilter::NeverUsed => w.never_used = Some(true),
        }
    }
}

/// A keyset page of keys, with the clients seen using each key of the page (by key id).
#[derive(Debug)]
pub struct KeysetPage {
    pub page: Keyset<ApiKeyListing>,
    pub clients: HashMap<String, Vec<KeyClient>>,
}

impl std::ops::Deref for KeysetPage {
    type Target = Keyset<ApiKeyListing>;

    fn deref(&self) -> &Self::Target {
        &self.page
    }
}

fn keyset_page(
    conn: &mut DbConnection,
    owners: &KeyOwners,
    w: &KeyWhere,
    page: &KeyPage,
) -> Result<KeysetPage, AppError> {
    let total = ApiKey::count(conn, owners, w)?;
    let page = keyset(
        page,
        total,
        |p| ApiKey::page(conn, owners, w, p),
        |l| (l.key.created_at, l.key.id.clone()),
    )?;
    let ids: Vec<String> = page.rows.iter().map(|l| l.key.id.clone()).collect();
    Ok(KeysetPage {
        clients: super::key_clients::clients_of_keys(conn, &ids)?,
        page,
    })
}

/// The actor's own keys: every tenant for a person; only the key's tenant through a key.
fn own_keys(actor: &Actor) -> KeyOwners {
    KeyOwners {
        account: actor
            .account_id()
            .map(|a| (a.to_string(), actor.bound_tenant().map(ToString::to_string))),
        service_accounts_in: Vec::new(),
    }
}

/// A page of the actor's own keys, with the total and neighbours (User › API Keys).
pub fn own_api_keys_page(
    conn: &mut DbConnection,
    actor: &Actor,
    w: &KeyWhere,
    page: &KeyPage,
) -> Result<KeysetPage, AppError> {
    let w = outside_sso_left_out(conn, actor, w)?;
    keyset_page(conn, &own_keys(actor), &w, page)
}

/// `w`, leaving out the keys of tenants that require single sign-on when the actor's
/// session is outside it: they are refused there (`permissions::access`), so they are not
/// shown either.
fn outside_sso_left_out(
    conn: &mut DbConnection,
    actor: &Actor,
    w: &KeyWhere,
) -> Result<KeyWhere, AppError> {
    let mut w = w.clone();
    if let (true, Some(account_id)) = (actor.outside_sso, actor.account_id()) {
        let requiring = TenantSsoRequirement::required_of_member(conn, account_id.as_str())?;
        if !requiring.is_empty() {
            w.tenants_left_out = Some(requiring);
        }
    }
    Ok(w)
}

/// One of the actor's own keys, by id.
pub fn own_api_key(
    conn: &mut DbConnection,
    actor: &Actor,
    key_id: &ApiKeyId,
) -> Result<Option<ApiKeyListing>, AppError> {
    let w = KeyWhere {
        key_id: Some(key_id.to_string()),
        ..KeyWhere::default()
    };
    let w = outside_sso_left_out(conn, actor, &w)?;
    let page = KeyPage::OlderThan {
        limit: 1,
        cursor: None,
    };
    Ok(ApiKey::page(conn, &own_keys(actor), &w, &page)?.pop())
}

/// What `auth_api_key` may show: the actor's own keys, plus every service-account key
/// of each tenant where it is an admin (through a key: only the key's tenant).
fn visible_keys(conn: &mut DbConnection, actor: &Actor) -> Result<KeyOwners, AppError> {
    let tenants: Vec<TenantId> = match actor.bound_tenant() {
        Some(t) => vec![t.clone()],
        None => match actor.account_id() {
            Some(a) => Membership::tenants_of(conn, a.as_str())?
                .into_iter()
                .map(|(t, _)| t.tenant_id())
                .collect(),
            None => Vec::new(),
        },
    };
    let mut owners = own_keys(actor);
    for tenant_id in tenants {
        if permissions::allows(
            conn,
            actor,
            &tenant_id,
            Permission::ManageServiceAccountKeys,
        )? {
            owners.service_accounts_in.push(tenant_id.into_inner());
        }
    }
    Ok(owners)
}

pub fn visible_api_keys(
    conn: &mut DbConnection,
    actor: &Actor,
    w: &KeyWhere,
    page: &KeyPage,
) -> Result<Vec<ApiKeyListing>, AppError> {
    let owners = visible_keys(conn, actor)?;
    let w = outside_sso_left_out(conn, actor, w)?;
    Ok(ApiKey::page(conn, &owners, &w, page)?)
}

pub fn count_visible_api_keys(
    conn: &mut DbConnection,
    actor: &Actor,
    w: &KeyWhere,
) -> Result<i64, AppError> {
    let owners = visible_keys(conn, actor)?;
    let w = outside_sso_left_out(conn, actor, w)?;
    Ok(ApiKey::count(conn, &owners, &w)?)
}

fn service_account_owners(
    conn: &mut DbConnection,
    actor: &Actor,
    in_tenant: Option<&TenantId>,
    id: &AccountId,
) -> Result<KeyOwners, AppError> {
    let account = service_accounts::find_managed(conn, actor, in_tenant, id)?;
    Ok(KeyOwners {
        account: Some((account.id.clone(), account.tenant_id.clone())),
        service_accounts_in: Vec::new(),
    })
}

/// A page of a service account's keys with total and neighbours; admins of its tenant.
pub fn service_account_keys_page(
    conn: &mut DbConnection,
    actor: &Actor,
    in_tenant: Option<&TenantId>,
    id: &AccountId,
    w: &KeyWhere,
    page: &KeyPage,
) -> Result<KeysetPage, AppError> {
    let owners = service_account_owners(conn, actor, in_tenant, id)?;
    keyset_page(conn, &owners, w, page)
}

/// A page of a service account's keys; admins of its tenant only.
pub fn service_account_keys(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &AccountId,
    w: &KeyWhere,
    page: &KeyPage,
) -> Result<Vec<ApiKeyListing>, AppError> {
    let owners = service_account_owners(conn, actor, None, id)?;
    Ok(ApiKey::page(conn, &owners, w, page)?)
}

/// The same page of several service accounts' keys, by account (a nested list's
/// batch): their tenants' permissions once each, then two queries however many accounts.
/// An account that is not a service account the actor manages is NOT_FOUND.
pub fn keys_of_service_accounts(
    conn: &mut DbConnection,
    actor: &Actor,
    ids: &[String],
    w: &KeyWhere,
    page: &KeyPage,
) -> Result<HashMap<String, Vec<ApiKeyListing>>, AppError> {
    let tenants = Account::tenants_of_service_accounts(conn, ids.to_vec())?;
    let mut checked: Vec<String> = Vec::new();
    for id in ids {
        let tenant = tenants
            .get(id)
            .ok_or_else(|| AppError::not_found("service account not found"))?;
        if !checked.contains(tenant) {
            let tenant_id = TenantId::from_stored(tenant.clone());
            permissions::access(conn, actor, &tenant_id)
                .map_err(|_| AppError::not_found("service account not found"))?;
            permissions::require(conn, actor, &tenant_id, Permission::ManageServiceAccounts)?;
            checked.push(tenant_id.into_inner());
        }
    }
    let KeyPage::Offset {
        limit,
        offset,
        order,
    } = *page
    else {
        return Err(AppError::internal("a nested key list pages by offset"));
    };
    let key_ids = page_ids_per_account(conn, ids, w, order, limit, offset)?;
    let owners = KeyOwners {
        account: None,
        service_accounts_in: checked,
    };
    let only = KeyWhere {
        key_ids: Some(key_ids),
        ..KeyWhere::default()
    };
    let all = KeyPage::Offset {
        limit: i64::MAX,
        offset: 0,
        order,
    };
    let mut by_account: HashMap<String, Vec<ApiKeyListing>> = HashMap::new();
    for listing in ApiKey::page(conn, &owners, &only, &all)? {
        by_account
            .entry(listing.key.account_id.clone())
            .or_default()
            .push(listing);
    }
    Ok(by_account)
}

/// At most this many rows per answer of `expiring_api_keys` (the soonest first).
const MAX_EXPIRING_ROWS: i64 = 1_000;

/// What the actor sees expiring within `within_days` (see `key_expiry::WARN_DAYS`): its own keys and
/// every service-account key of the tenants it administers.
fn expiring_within(now: PrimitiveDateTime, within_days: i32) -> Result<KeyWhere, AppError> {
    if !(1..=key_expiry::MAX_WITHIN_DAYS).contains(&within_days) {
        return Err(InvalidInput::new(
            "within_days",
            format!("must be between 1 and {}", key_expiry::MAX_WITHIN_DAYS),
        )
        .into());
    }
    let mut w = KeyWhere::default();
    key_expiry::expiring_where(&mut w, now, within_days.into());
    Ok(w)
}

/// The soonest first.
fn soonest(limit: i64) -> KeyPage {
    KeyPage::Offset {
        limit,
        offset: 0,
        order: KeyOrder {
            field: KeyOrderField::ExpiresAt,
            descending: false,
        },
    }
}

/// The keys expiring within `within_days` (see `expiring_within`), the soonest first, at
/// most `MAX_EXPIRING_ROWS`.
pub fn expiring_api_keys(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    within_days: i32,
) -> Result<Vec<ApiKeyListing>, AppError> {
    let filter = expiring_within(now, within_days)?;
    visible_api_keys(conn, actor, &filter, &soonest(MAX_EXPIRING_ROWS))
}

/// How many keys expire within `key_expiry::WARN_DAYS`, and the first `named` of them (the soonest):
/// the dashboard's banner, which names a few and counts the rest.
pub fn expiring_soon_summary(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    named: i64,
) -> Result<(i64, Vec<ApiKeyListing>), AppError> {
    let filter = expiring_within(now, key_expiry::WARN_DAYS as i32)?;
    let total = count_visible_api_keys(conn, actor, &filter)?;
    if total == 0 {
        return Ok((0, Vec::new()));
    }
    let first = visible_api_keys(conn, actor, &filter, &soonest(named))?;
    Ok((total, first))
}
