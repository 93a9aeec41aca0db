//! Queries of the key lifecycle (issue 14): which names are taken, what a key made, and
//! marking a key as rotated. Kept apart from the row types they read.

use crate::db::models::{Account, ApiKey};
use crate::db::schema::{accounts, api_keys};
use crate::db::DbConnection;
use crate::domain::AccountKind;
use diesel::prelude::*;
use time::PrimitiveDateTime;

/// Whether the account holds a key of this name in the tenant, among keys that are not
/// rotating out (a rotated key hands its name to its successor).
pub fn key_name_taken(
    conn: &mut DbConnection,
    account_id: &str,
    tenant_id: &str,
    name: &str,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        api_keys::table
            .filter(api_keys::account_id.eq(account_id))
            .filter(api_keys::tenant_id.eq(tenant_id))
            .filter(api_keys::name.eq(name))
            .filter(api_keys::rotated_to_key_id.is_null()),
    ))
    .get_result(conn)
}

/// Whether another service account of the tenant has this name.
pub fn service_account_name_taken(
    conn: &mut DbConnection,
    tenant_id: &str,
    name: &str,
    except_id: Option<&str>,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        accounts::table
            .filter(accounts::tenant_id.eq(tenant_id))
            .filter(accounts::account_type.eq(AccountKind::ServiceAccount.as_str()))
            .filter(accounts::name.eq(name))
            .filter(accounts::id.ne(except_id.unwrap_or(""))),
    ))
    .get_result(conn)
}

/// Records the key through which a service account was made.
pub fn set_account_created_by_key(
    conn: &mut DbConnection,
    account_id: &str,
    key_id: &str,
) -> QueryResult<usize> {
    diesel::update(accounts::table.find(account_id))
        .set(accounts::created_by_key_id.eq(key_id))
        .execute(conn)
}

/// Keys made through any of `key_ids`.
pub fn keys_made_by(conn: &mut DbConnection, key_ids: &[String]) -> QueryResult<Vec<ApiKey>> {
    api_keys::table
        .filter(api_keys::created_by_key_id.eq_any(key_ids))
        .select(ApiKey::as_select())
        .order(api_keys::id.asc())
        .load(conn)
}

/// Service accounts made through any of `key_ids`.
pub fn service_accounts_made_by(
    conn: &mut DbConnection,
    key_ids: &[String],
) -> QueryResult<Vec<Account>> {
    accounts::table
        .filter(accounts::created_by_key_id.eq_any(key_ids))
        .select(Account::as_select())
        .order(accounts::id.asc())
        .load(conn)
}

/// Marks a key as replaced by `successor`; it stops working at `stops_at`. Only a key
/// not rotated yet: 0 when another rotation got there first.
pub fn mark_rotated(
    conn: &mut DbConnection,
    key_id: &str,
    successor: &str,
    stops_at: PrimitiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        api_keys::table
            .find(key_id)
            .filter(api_keys::rotated_to_key_id.is_null()),
    )
    .set((
        api_keys::rotated_to_key_id.eq(successor),
        api_keys::expires_at.eq(stops_at),
    ))
    .execute(conn)
}

/// The tenant's keys (every owner's, with the owner's name) that never expire or expire
/// after `latest` (`None`: only those that never expire), at most `limit`.
pub fn keys_beyond(
    conn: &mut DbConnection,
    tenant_id: &str,
    latest: Option<PrimitiveDateTime>,
    limit: i64,
) -> QueryResult<Vec<(ApiKey, String)>> {
    let mut q = api_keys::table
        .inner_join(accounts::table)
        .filter(api_keys::tenant_id.eq(tenant_id))
        .select((ApiKey::as_select(), accounts::name))
        .order((api_keys::created_at.asc(), api_keys::id.asc()))
        .limit(limit)
        .into_boxed();
    q = match latest {
        Some(t) => q.filter(
            api_keys::expires_at
                .is_null()
                .or(api_keys::expires_at.gt(t)),
        ),
        None => q.filter(api_keys::expires_at.is_null()),
    };
    q.load(conn)
}
