//! Creating, listing and revoking API keys.

use crate::db::models::key_lineage;
use crate::db::models::key_policy::TenantKeyPolicy;
use crate::db::models::{Account, ApiKey, Membership};
use crate::db::{lock_tenant, DbConnection};
use crate::domain::{
    quotas::QuotaSetting, AccountId, AccountKind, AllowedIps, ApiKeyId, AuditAction, ExpiresAt,
    KeyDescription, KeyName, PlainToken, Quotas, TenantId, TokenKind,
};
use crate::error::{on_unique_violation, AppError};
use crate::services::audit::{self, Event};
use crate::services::key_notices;
use crate::services::permissions;
use crate::services::webhooks;
use crate::services::{transaction, Actor};
use time::PrimitiveDateTime;

#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// The account the key is for: the caller, or a service account.
    pub account_id: AccountId,
    /// Defaults to the key's tenant (API key callers) or the service account's tenant.
    pub tenant_id: Option<TenantId>,
    pub name: KeyName,
    pub expires_at: Option<ExpiresAt>,
    /// Answers queries only; refused on every mutation.
    pub read_only: bool,
    /// Where the key may be used from; empty: anywhere the acting key may be used from
    /// (anywhere, for a person or an operator).
    pub allowed_ips: AllowedIps,
    /// What the key is for; empty: none.
    pub description: KeyDescription,
}

/// The stored key and the secret, which exists only in this value.
#[derive(Debug)]
pub struct CreatedApiKey {
    pub key: ApiKey,
    pub token: PlainToken,
}

const NOT_FOUND: &str = "API key not found";

/// Creates a key: the one way every surface makes one (dashboard, GraphQL, `keyward
/// admin`). Refused when its account already holds `max_keys_per_account` keys in the
/// tenant. `key_id` is `ApiKeyId::generate()`, or the dashboard derives it from a form's one-time
/// nonce: a second submission of that form meets the id's unique index and creates
/// nothing (CONFLICT), even when both submissions arrive at the same instant.
pub fn create_api_key(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    input: NewApiKey,
    key_id: ApiKeyId,
    quotas: &Quotas,
) -> Result<CreatedApiKey, AppError> {
    transaction(conn, |conn| {
        let account = Account::find(conn, input.account_id.as_str())?;
        let tenant_id = permissions::authorize_key_creation(
            conn,
            actor,
            account.as_ref(),
            input.tenant_id.as_ref(),
        )?;
        let Some(account) = account else {
            return Err(AppError::not_found("no account has that id"));
        };
        // A concurrent removal of this member must not miss the key made here: take the
        // tenant's lock, then check the membership again.
        lock_tenant(conn, tenant_id.as_str())?;
        if Membership::find(conn, &account.id, tenant_id.as_str())?.is_none() {
            return Err(AppError::Conflict(
                "that account is no longer a member of the tenant".into(),
            ));
        }
        // A form submitted twice meets its own key here, before its name does.
        if ApiKey::find(conn, key_id.as_str())?.is_some() {
            return Err(already_done());
        }
        check_key_quota(conn, &account, &tenant_id, quotas)?;
        let name = input.name.into_inner();
        ensure_key_name_free(conn, &account, &tenant_id, &name)?;
        let expires_at = input.expires_at.map(ExpiresAt::get);
        TenantKeyPolicy::of(conn, tenant_id.as_str())?.check(now, expires_at)?;
        let mut new = KeyToIssue {
            id: key_id.clone().into_inner(),
            account: &account,
            tenant_id: &tenant_id,
            name,
            expires_at,
            read_only: input.read_only,
            allowed_ips: input.allowed_ips.to_stored(),
            note: String::new(),
            description: input.description.into_inner(),
        };
        if let Some(limits) = ActingKeyLimits::of(conn, actor)? {
            limits.apply(&mut new)?;
        }
        let created = issue_key(conn, actor, now, new)?;
        key_notices::notify_key_created(conn, actor, now, &created.key, &account, None)?;
        webhooks::enqueue_event(
            conn,
            now,
            &tenant_id,
            webhooks::WebhookEvent::ApiKeyCreated,
            webhooks::key_data(&created.key, &account),
        )?;
        Ok(created)
    })
    .inspect(|_| crate::telemetry::metrics::api_key_created())
}

/// Counted under the tenant's lock (SQLite: the write lock of BEGIN IMMEDIATE), so
/// concurrent creations cannot overshoot.
pub(crate) fn check_key_quota(
    conn: &mut DbConnection,
    account: &Account,
    tenant_id: &TenantId,
    quotas: &Quotas,
) -> Result<(), AppError> {
    let limit = quotas.max_keys_per_account;
    if ApiKey::count_of_account_in(conn, &account.id, tenant_id.as_str())? >= limit {
        return Err(AppError::Conflict(format!(
            "{} already holds {limit} API keys in this tenant, the limit set by {}; delete a key first",
            account.name,
            QuotaSetting::KEYS.describe()
        )));
    }
    Ok(())
}

/// Key names are unique per owner and tenant among keys that are not rotating out.
/// Checked under the tenant's lock rather than by a unique index, which older databases
/// holding duplicates could not build (docs/DECISIONS.md).
fn ensure_key_name_free(
    conn: &mut DbConnection,
    account: &Account,
    tenant_id: &TenantId,
    name: &str,
) -> Result<(), AppError> {
    if key_lineage::key_name_taken(conn, &account.id, tenant_id.as_str(), name)? {
        return Err(AppError::invalid(
            "name",
            format!(
                "{} already has an API key named \"{name}\" in this tenant; choose another name",
                account.name
            ),
        ));
    }
    Ok(())
}

fn already_done() -> AppError {
    AppError::Conflict(
        "this request was already carried out (a key with its id exists), so nothing more was created".into(),
    )
}

/// A key about to be made, its checks passed.
pub(crate) struct KeyToIssue<'a> {
    pub id: String,
    pub account: &'a Account,
    pub tenant_id: &'a TenantId,
    pub name: String,
    pub expires_at: Option<PrimitiveDateTime>,
    pub read_only: bool,
    /// Stored CIDR list (`domain::AllowedIps`); a rotated key keeps its predecessor's.
    pub allowed_ips: Option<String>,
    /// Appended to the audit line (", rotated from …").
    pub note: String,
    /// What the key is for; a rotated key keeps its predecessor's.
    pub description: String,
}

/// What a key made (created or rotated) through an API key may be at most: read-only
/// when the acting key is, expiring no later than it, and usable only from within its
/// allow-list, so a leaked key cannot hand out a key wider than itself
/// (docs/DECISIONS.md). Read before anything changes the acting key (it may be rotating
/// itself).
pub(crate) struct ActingKeyLimits {
    read_only: bool,
    expires_at: Option<PrimitiveDateTime>,
    allowed_ips: Option<String>,
}

impl ActingKeyLimits {
    /// `None` unless `actor` is an API key.
    pub(crate) fn of(conn: &mut DbConnection, actor: &Actor) -> Result<Option<Self>, AppError> {
        let Some(key_id) = actor.key_id() else {
            return Ok(None);
        };
        let key = ApiKey::find(conn, key_id.as_str())?
            .ok_or_else(|| AppError::unauthenticated("the API key making this request is gone"))?;
        Ok(Some(Self {
            read_only: key.read_only,
            expires_at: key.expires_at,
            allowed_ips: key.allowed_ips,
        }))
    }

    pub(crate) fn apply(&self, new: &mut KeyToIssue<'_>) -> Result<(), AppError> {
        new.read_only |= self.read_only;
        new.expires_at = match (new.expires_at, self.expires_at) {
            (Some(wanted), Some(limit)) => Some(wanted.min(limit)),
            (wanted, limit) => wanted.or(limit),
        };
        if let Some(limit) = &self.allowed_ips {
            let outer = AllowedIps::from_stored(Some(limit));
            match &new.allowed_ips {
                None => new.allowed_ips = Some(limit.clone()),
                Some(wanted) if AllowedIps::from_stored(Some(wanted)).is_within(&outer) => {}
                Some(_) => {
                    return Err(AppError::invalid(
                        "allowed_ips",
                        format!(
                            "a key made through an API key may be used only from within that key's allow-list ({}); list addresses inside it, or leave the list empty to inherit it",
                            outer.texts().join(", ")
                        ),
                    ))
                }
            }
        }
        Ok(())
    }
}

/// Generates the secret, stores the key and audits it; creation and rotation share it.
pub(crate) fn issue_key(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    new: KeyToIssue<'_>,
) -> Result<CreatedApiKey, AppError> {
    let kind = match new.account.kind() {
        AccountKind::User => TokenKind::User,
        AccountKind::ServiceAccount => TokenKind::ServiceAccount,
    };
    let token = PlainToken::generate(kind);
    let key = ApiKey {
        id: new.id,
        account_id: new.account.id.clone(),
        tenant_id: new.tenant_id.to_string(),
        name: new.name,
        token_digest: token.digest().into_inner(),
        display_hint: token.display_hint(),
        created_at: now,
        created_by: actor.account_id().map(ToString::to_string),
        created_by_key_id: actor.key_id().map(ToString::to_string),
        expires_at: new.expires_at,
        last_used_at: None,
        last_used_ip: None,
        read_only: new.read_only,
        rotated_to_key_id: None,
        allowed_ips: new.allowed_ips,
        ip_refusal_audited_at: None,
        description: new.description,
    };
    key.insert(conn)
        .map_err(on_unique_violation(already_done))?;
    audit::record(
        conn,
        actor,
        now,
        Event {
            tenant_id: Some(new.tenant_id.as_str()),
            action: AuditAction::ApiKeyCreated,
            target_id: Some(&key.id),
            detail: format!(
                "key \"{}\" ({}) for {}{}{}",
                key.name,
                key.display_hint,
                new.account.name,
                if key.read_only { ", read-only" } else { "" },
                new.note
            ),
        },
    )?;
    Ok(CreatedApiKey { key, token })
}

/// Where a page looks for the key it revokes: a team page acts only on its tenant's and
/// its service account's keys.
#[derive(Debug, Clone, Copy)]
pub struct KeyScope<'a> {
    pub tenant_id: &'a TenantId,
    pub account_id: Option<&'a AccountId>,
}

impl KeyScope<'_> {
    pub(crate) fn holds(&self, key: &ApiKey) -> bool {
        key.tenant_id == *self.tenant_id && self.account_id.is_none_or(|a| key.account_id == *a)
    }
}

/// Revokes (deletes) a key. Any key the actor may not revoke answers NOT_FOUND, so
/// nobody learns that someone else's key exists.
pub fn revoke_api_key(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    key_id: &ApiKeyId,
) -> Result<ApiKey, AppError> {
    revoke_api_key_in(conn, actor, now, key_id, None)
}

/// `revoke_api_key`, answering NOT_FOUND as well for a key outside `scope`.
pub fn revoke_api_key_in(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    key_id: &ApiKeyId,
    scope: Option<KeyScope<'_>>,
) -> Result<ApiKey, AppError> {
    transaction(conn, |conn| {
        let key = find_revocable(conn, actor, key_id, scope)?;
        delete_key_audited(conn, actor, now, &key, "revoked")?;
        Ok(key)
    })
}

/// The key `actor` may revoke (and so change); NOT_FOUND for any other, unknown or not.
pub(crate) fn find_revocable(
    conn: &mut DbConnection,
    actor: &Actor,
    key_id: &ApiKeyId,
    scope: Option<KeyScope<'_>>,
) -> Result<ApiKey, AppError> {
    let key = ApiKey::find(conn, key_id.as_str())?
        .filter(|k| scope.is_none_or(|s| s.holds(k)))
        .ok_or_else(|| AppError::not_found(NOT_FOUND))?;
    if !permissions::may_revoke_key(conn, actor, &key)? {
        return Err(AppError::not_found(NOT_FOUND));
    }
    Ok(key)
}

/// Deletes one key and writes its audit event; used by every path that removes keys
/// (revocation, member removal, service-account removal, tenant deletion).
pub(crate) fn delete_key_audited(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    key: &ApiKey,
    why: &str,
) -> Result<(), AppError> {
    ApiKey::delete(conn, &key.id)?;
    let mut data = serde_json::json!({
        "id": key.id,
        "name": key.name,
        "display_hint": key.display_hint,
        "user_id": key.account_id,
        "tenant_id": key.tenant_id,
    });
    data["reason"] = serde_json::Value::from(why.trim());
    webhooks::enqueue_event(
        conn,
        now,
        &key.tenant(),
        webhooks::WebhookEvent::ApiKeyRevoked,
        data,
    )?;
    // Counted as written; the rare transaction rolled back after this counts too.
    crate::telemetry::metrics::api_key_revoked();
    audit::record(
        conn,
        actor,
        now,
        Event {
            tenant_id: Some(&key.tenant_id),
            action: AuditAction::ApiKeyRevoked,
            target_id: Some(&key.id),
            detail: format!("key \"{}\" ({}) {why}", key.name, key.display_hint),
        },
    )
}
