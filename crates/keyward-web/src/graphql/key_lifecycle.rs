//! The key lifecycle of issue 14: `rotate_api_key`, `set_tenant_key_policy`,
//! `tenant_key_policy` and `expiring_api_keys` (`read_only` and `with_descendants` live
//! on the key inputs in `api_keys`).

use crate::domain::{ExpiresAt, KeyPolicy};
use crate::error::{AppError, GraphqlAnswer};
use crate::graphql::api_keys::GqlApiKey;
use crate::graphql::context::{tenant_or_own, RequestContext};
use crate::graphql::scalars::{DateTime, Uuid};
use crate::services::key_lists;
use crate::services::key_policy::{self, PolicyReport};
use crate::services::key_rotation::{self, Overlap, SuccessorExpiry};
use async_graphql::{Context, InputObject, Object, SimpleObject};

#[derive(InputObject)]
#[graphql(name = "rotate_api_key_input", rename_fields = "snake_case")]
pub struct RotateApiKeyInput {
    key_id: Uuid,
    /// How long the old key keeps working: 0, 1, 24 or 168 hours.
    overlap_hours: i32,
    /// When the new key expires (in the future, within the tenant's key policy). Absent
    /// or null: the old key's lifetime again from now, cut to the policy.
    expires_at: Option<DateTime>,
    /// True: the new key never expires (if the tenant's policy allows it); not with
    /// `expires_at`.
    never_expires: Option<bool>,
}

impl RotateApiKeyInput {
    fn expiry(&self, now: time::PrimitiveDateTime) -> Result<SuccessorExpiry, AppError> {
        match (self.expires_at, self.never_expires.unwrap_or(false)) {
            (Some(_), true) => Err(AppError::invalid(
                "never_expires",
                "give expires_at or never_expires: true, not both",
            )),
            (None, true) => Ok(SuccessorExpiry::Chosen(None)),
            (Some(at), false) => Ok(SuccessorExpiry::Chosen(Some(ExpiresAt::parse(at.0, now)?))),
            (None, false) => Ok(SuccessorExpiry::SameLifetime),
        }
    }
}

/// The new key, shown only in this answer (`key` and `token` are the same secret), and
/// when the old one stops working.
#[derive(SimpleObject)]
#[graphql(name = "rotate_api_key_payload", rename_fields = "snake_case")]
pub struct RotateApiKeyPayload {
    id: Uuid,
    key: String,
    token: String,
    old_key_id: Uuid,
    old_key_expires_at: DateTime,
    /// When the new key expires; null: never.
    expires_at: Option<DateTime>,
}

#[derive(InputObject)]
#[graphql(name = "set_tenant_key_policy_input", rename_fields = "snake_case")]
pub struct SetTenantKeyPolicyInput {
    /// Defaults to the key's tenant.
    tenant_id: Option<Uuid>,
    /// Null means no limit; a limit (1 to 3650 days) makes an expiry required.
    max_key_lifetime_days: Option<i32>,
    /// Null means false.
    require_expiry: Option<bool>,
}

/// A live key that a key created now could not be: it never expires, or later than the
/// policy allows. Listed for the admin, not cut.
#[derive(SimpleObject)]
#[graphql(name = "key_beyond_policy", rename_fields = "snake_case")]
pub struct GqlKeyBeyondPolicy {
    id: Uuid,
    name: String,
    user_id: Uuid,
    user_name: String,
    expires_at: Option<DateTime>,
}

#[derive(SimpleObject)]
#[graphql(name = "tenant_key_policy", rename_fields = "snake_case")]
pub struct GqlTenantKeyPolicy {
    tenant_id: Uuid,
    /// Null means no limit.
    max_key_lifetime_days: Option<i32>,
    require_expiry: bool,
    /// The tenant's keys beyond the policy (at most 1,000); empty without a policy.
    keys_beyond_policy: Vec<GqlKeyBeyondPolicy>,
}

impl GqlTenantKeyPolicy {
    fn new(tenant_id: String, report: PolicyReport) -> Self {
        Self {
            tenant_id: tenant_id.into(),
            max_key_lifetime_days: report.policy.max_key_lifetime_days(),
            require_expiry: report.policy.require_expiry(),
            keys_beyond_policy: report
                .keys_beyond
                .into_iter()
                .map(|k| GqlKeyBeyondPolicy {
                    id: k.key.id.into(),
                    name: k.key.name,
                    user_id: k.key.account_id.into(),
                    user_name: k.owner_name,
                    expires_at: k.key.expires_at.map(DateTime),
                })
                .collect(),
        }
    }
}

#[derive(Default)]
pub struct KeyLifecycleQuery;

#[Object(rename_fields = "snake_case", rename_args = "snake_case")]
impl KeyLifecycleQuery {
    /// Keys the caller sees (its own; service-account keys where it is an admin) that
    /// still work and stop within `within_days` (1 to 366; default 7, the dashboard's
    /// "expiring soon", the same rule as `ApiKey.expiring_soon`; rotated keys count), the
    /// soonest first; at most 1,000.
    async fn expiring_api_keys(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 7)] within_days: i32,
    ) -> async_graphql::Result<Vec<GqlApiKey>> {
        let (keys, now) = RequestContext::of(ctx)?
            .run(move |conn, now, actor| {
                Ok((
                    key_lists::expiring_api_keys(conn, actor, now, within_days)?,
                    now,
                ))
            })
            .await?;
        Ok(keys.into_iter().map(|k| GqlApiKey::new(k, now)).collect())
    }

    /// The tenant's key policy (default: the key's tenant) with the keys beyond it;
    /// admins only.
    async fn tenant_key_policy(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<Uuid>,
    ) -> async_graphql::Result<GqlTenantKeyPolicy> {
        RequestContext::of(ctx)?
            .run(move |conn, now, actor| {
                let tenant_id = tenant_or_own(tenant_id, actor)?;
                let report = key_policy::policy_report(conn, actor, now, &tenant_id)?;
                Ok(GqlTenantKeyPolicy::new(tenant_id.into_inner(), report))
            })
            .await
    }
}

#[derive(Default)]
pub struct KeyLifecycleMutation;

#[Object(rename_fields = "snake_case", rename_args = "snake_case")]
impl KeyLifecycleMutation {
    /// Issues a new key with the same owner, name, tenant and scope, expiring as
    /// `expires_at` / `never_expires` say (else with the old key's lifetime); the old key
    /// keeps working until `old_key_expires_at` (now + overlap), then is refused as expired.
    /// Allowed to whoever may revoke the old key; any other key is "API key not found".
    async fn rotate_api_key(
        &self,
        ctx: &Context<'_>,
        input: RotateApiKeyInput,
    ) -> async_graphql::Result<RotateApiKeyPayload> {
        let overlap =
            Overlap::hours(input.overlap_hours).map_err(|e| AppError::from(e).into_graphql())?;
        let context = RequestContext::of(ctx)?;
        let quotas = context.state.settings.quotas;
        let rotated = context
            .run(move |conn, now, actor| {
                let expiry = input.expiry(now)?;
                key_rotation::rotate_api_key(
                    conn,
                    actor,
                    now,
                    &input.key_id.clone().api_key(),
                    (overlap, expiry),
                    &quotas,
                    None,
                )
            })
            .await?;
        let secret = rotated.created.token.expose_secret().to_string();
        Ok(RotateApiKeyPayload {
            id: rotated.created.key.id.into(),
            key: secret.clone(),
            token: secret,
            old_key_id: rotated.old_key_id.into(),
            old_key_expires_at: rotated.old_key_expires_at.into(),
            expires_at: rotated.created.key.expires_at.map(DateTime),
        })
    }

    /// Sets the tenant's key policy (admins); answers with the keys already beyond it.
    async fn set_tenant_key_policy(
        &self,
        ctx: &Context<'_>,
        input: SetTenantKeyPolicyInput,
    ) -> async_graphql::Result<GqlTenantKeyPolicy> {
        let policy = KeyPolicy::new(
            input.max_key_lifetime_days,
            input.require_expiry.unwrap_or(false),
        )
        .map_err(|e| AppError::from(e).into_graphql())?;
        RequestContext::of(ctx)?
            .run(move |conn, now, actor| {
                let tenant_id = tenant_or_own(input.tenant_id, actor)?;
                let report =
                    key_policy::set_tenant_key_policy(conn, actor, now, &tenant_id, policy)?;
                Ok(GqlTenantKeyPolicy::new(tenant_id.into_inner(), report))
            })
            .await
    }
}
