//! Revoking a key with everything made through it (issue 14): the keys it created, the
//! service accounts it created (with all their keys), and, transitively, whatever those
//! made. A leaked key that minted a service account and keys for it is then fully gone.
//! One transaction; every key and account removed is audited. Each service account, and
//! each service account's key, is removed only if the caller may remove it now; the
//! others are skipped and reported (docs/DECISIONS.md).

use crate::db::models::{key_lineage, Account, ApiKey};
use crate::db::{lock_tenant, DbConnection};
use crate::domain::ApiKeyId;
use crate::error::AppError;
use crate::services::api_keys::{self, KeyScope};
use crate::services::{permissions, service_accounts, transaction, Actor};
use std::collections::HashSet;
use time::PrimitiveDateTime;

/// What a key made, directly or through what it made.
#[derive(Debug, Default)]
pub struct Descendants {
    /// Keys made through the key (or its descendants), not counting the keys of the
    /// service accounts below, which go with them.
    pub keys: Vec<ApiKey>,
    pub service_accounts: Vec<Account>,
    /// Service accounts and service accounts' keys made through the key that the caller
    /// may not remove now (a member demoted since): left in place.
    pub skipped: Vec<Skipped>,
}

/// A descendant left in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub id: String,
    pub name: String,
    pub kind: SkippedKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkippedKind {
    ApiKey,
    ServiceAccount,
}

impl Descendants {
    /// "the 3 keys and 1 service account it created", or `None` when it made nothing.
    pub fn describe(&self) -> Option<String> {
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        match (self.keys.len(), self.service_accounts.len()) {
            (0, 0) => None,
            (k, 0) => Some(plural(k, "key", "keys")),
            (0, s) => Some(plural(s, "service account", "service accounts")),
            (k, s) => Some(format!(
                "{} and {}",
                plural(k, "key", "keys"),
                plural(s, "service account", "service accounts")
            )),
        }
    }
}

impl Descendants {
    /// "; 1 service account it created was left: your role no longer allows removing it",
    /// or nothing when nothing was skipped.
    pub fn describe_skipped(&self) -> String {
        let accounts = self
            .skipped
            .iter()
            .filter(|s| s.kind == SkippedKind::ServiceAccount)
            .count();
        let keys = self.skipped.len() - accounts;
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let what = match (keys, accounts) {
            (0, 0) => return String::new(),
            (k, 0) => plural(k, "service account's key", "service accounts' keys"),
            (0, a) => plural(a, "service account", "service accounts"),
            (k, a) => format!(
                "{} and {}",
                plural(a, "service account", "service accounts"),
                plural(k, "service account's key", "service accounts' keys")
            ),
        };
        format!("; {what} it created stayed: your role no longer allows removing them")
    }
}

/// Everything made through `root`, transitively: keys whose `created_by_key_id` is in
/// the set, service accounts likewise, and the keys of those service accounts (whose own
/// creations are followed in turn). Each key is visited once, so it ends.
pub fn descendants_of(conn: &mut DbConnection, root: &ApiKey) -> Result<Descendants, AppError> {
    let mut seen: HashSet<String> = HashSet::from([root.id.clone()]);
    let mut accounts_seen: HashSet<String> = HashSet::new();
    let mut frontier = vec![root.id.clone()];
    let mut found = Descendants::default();
    while !frontier.is_empty() {
        let mut next = Vec::new();
        for sa in key_lineage::service_accounts_made_by(conn, &frontier)? {
            if accounts_seen.insert(sa.id.clone()) {
                for key in ApiKey::of_account(conn, &sa.id, None)? {
                    if seen.insert(key.id.clone()) {
                        next.push(key.id);
                    }
                }
                found.service_accounts.push(sa);
            }
        }
        for key in key_lineage::keys_made_by(conn, &frontier)? {
            if seen.insert(key.id.clone()) {
                next.push(key.id.clone());
                found.keys.push(key);
            }
        }
        frontier = next;
    }
    // Keys of a removed service account go with it, not on their own.
    found
        .keys
        .retain(|k| !accounts_seen.contains(&k.account_id));
    Ok(found)
}

/// The descendants `actor` may remove now, the others moved to `skipped`: a service
/// account needs the right to remove it, a service account's key the right to revoke it.
/// People's keys made through the key go with it (made with its authority).
fn removable_by(
    conn: &mut DbConnection,
    actor: &Actor,
    found: Descendants,
) -> Result<Descendants, AppError> {
    let mut kept = Descendants::default();
    for sa in found.service_accounts {
        if permissions::may_remove_service_account(conn, actor, &sa)? {
            kept.service_accounts.push(sa);
        } else {
            kept.skipped.push(Skipped {
                id: sa.id,
                name: sa.name,
                kind: SkippedKind::ServiceAccount,
            });
        }
    }
    let skipped_accounts: HashSet<String> = kept.skipped.iter().map(|s| s.id.clone()).collect();
    for key in found.keys {
        let owner = Account::find(conn, &key.account_id)?;
        let of_service_account = owner.as_ref().is_some_and(Account::is_service_account);
        if !of_service_account || permissions::may_revoke_key(conn, actor, &key)? {
            kept.keys.push(key);
        } else if !skipped_accounts.contains(&key.account_id) {
            kept.skipped.push(Skipped {
                id: key.id,
                name: key.name,
                kind: SkippedKind::ApiKey,
            });
        }
    }
    Ok(kept)
}

/// What revoking `key_id` with its descendants would remove (and skip), for the
/// confirmation; NOT_FOUND for a key the actor may not revoke.
pub fn preview(
    conn: &mut DbConnection,
    actor: &Actor,
    key_id: &ApiKeyId,
    scope: Option<KeyScope<'_>>,
) -> Result<Descendants, AppError> {
    let key = api_keys::find_revocable(conn, actor, key_id, scope)?;
    let found = descendants_of(conn, &key)?;
    removable_by(conn, actor, found)
}

/// Revokes a key and everything made through it that the actor may remove, in one
/// transaction, each audited; the rest is in `skipped` (see `removable_by`).
pub fn revoke_with_descendants(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    key_id: &ApiKeyId,
    scope: Option<KeyScope<'_>>,
) -> Result<(ApiKey, Descendants), AppError> {
    transaction(conn, |conn| {
        let key = api_keys::find_revocable(conn, actor, key_id, scope)?;
        // Creations take the tenant's lock: none can slip in between the walk and the
        // deletions.
        lock_tenant(conn, &key.tenant_id)?;
        let found = descendants_of(conn, &key)?;
        let found = removable_by(conn, actor, found)?;
        api_keys::delete_key_audited(conn, actor, now, &key, "revoked")?;
        let why = format!(", made through key {} ({})", key.id, key.display_hint);
        for child in &found.keys {
            api_keys::delete_key_audited(conn, actor, now, child, &format!("revoked{why}"))?;
        }
        for sa in &found.service_accounts {
            service_accounts::delete_audited(conn, actor, now, sa.clone(), &why)?;
        }
        Ok((key, found))
    })
}
