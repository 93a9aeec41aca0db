//! Revoking a key with everything made through it (issue 14): the keys it created, the
//! service accounts it created (with all their keys), and, transitively, whatever those
//! made. A leaked key that minted a service account and keys for it is then fully gone.
//! One transaction; every key and account removed is audited.

use crate::db::models::{key_lineage, Account, ApiKey};
use crate::db::{lock_tenant, DbConnection};
use crate::error::AppError;
use crate::services::api_keys::{self, KeyScope};
use crate::services::{service_accounts, transaction, Actor};
use std::collections::HashSet;
use time::PrimitiveDateTime;

/// What a key made, directly or through what it made.
#[derive(Debug, Default)]
pub struct Descendants {
    /// Keys made through the key (or its descendants), not counting the keys of the
    /// service accounts below, which go with them.
    pub keys: Vec<ApiKey>,
    pub service_accounts: Vec<Account>,
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

/// What revoking `key_id` with its descendants would remove, for the confirmation;
/// NOT_FOUND for a key the actor may not revoke.
pub fn preview(
    conn: &mut DbConnection,
    actor: &Actor,
    key_id: &str,
    scope: Option<KeyScope<'_>>,
) -> Result<Descendants, AppError> {
    let key = api_keys::find_revocable(conn, actor, key_id, scope)?;
    descendants_of(conn, &key)
}

/// Revokes a key and everything made through it, in one transaction, each audited. The
/// permission is the one to revoke the key itself: what it made was made with its
/// authority (docs/DECISIONS.md).
pub fn revoke_with_descendants(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    key_id: &str,
    scope: Option<KeyScope<'_>>,
) -> Result<(ApiKey, Descendants), AppError> {
    transaction(conn, |conn| {
        let key = api_keys::find_revocable(conn, actor, key_id, scope)?;
        // Creations take the tenant's lock: none can slip in between the walk and the
        // deletions.
        lock_tenant(conn, &key.tenant_id)?;
        let found = descendants_of(conn, &key)?;
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
