//! `auth_api_key`, `create_api_key`, `delete_api_key`: the Prefect 1.x key API.

use crate::db::models::api_key::ApiKeyListing;
use crate::domain::{ExpiresAt, KeyName};
use crate::error::AppError;
use crate::graphql::auth::GqlAccountType;
use crate::graphql::context::RequestContext;
use crate::graphql::scalars::{DateTime, Uuid};
use crate::graphql::SuccessPayload;
use crate::services::api_keys::{self, NewApiKey};
use async_graphql::{Context, InputObject, Object, SimpleObject};
use time::PrimitiveDateTime;

/// A key as listed: never its secret.
#[derive(SimpleObject)]
#[graphql(name = "auth_api_key", rename_fields = "snake_case")]
pub struct GqlApiKey {
    id: Uuid,
    name: String,
    /// The owning account: a person, or a service account.
    user_id: Uuid,
    account_type: GqlAccountType,
    /// The owning account's name.
    user_name: String,
    tenant_id: Uuid,
    /// The key's prefix and last four characters, to tell keys apart.
    display_hint: String,
    created_at: DateTime,
    /// Null means the key never expires.
    expires_at: Option<DateTime>,
    /// Expired keys are refused, and stay listed until deleted.
    expired: bool,
    last_used_at: Option<DateTime>,
}

impl GqlApiKey {
    pub fn new(l: ApiKeyListing, now: PrimitiveDateTime) -> Self {
        GqlApiKey {
            expired: l.key.is_expired(now),
            account_type: l.account.kind().into(),
            user_name: l.account.name,
            id: l.key.id.into(),
            name: l.key.name,
            user_id: l.key.account_id.into(),
            tenant_id: l.key.tenant_id.into(),
            display_hint: l.key.display_hint,
            created_at: l.key.created_at.into(),
            expires_at: l.key.expires_at.map(DateTime),
            last_used_at: l.key.last_used_at.map(DateTime),
        }
    }
}

#[derive(InputObject)]
#[graphql(name = "create_api_key_input", rename_fields = "snake_case")]
pub struct CreateApiKeyInput {
    /// The caller's own account, or a service account of a tenant the caller administers.
    user_id: Uuid,
    name: String,
    /// Must be in the future; null means never.
    expires_at: Option<DateTime>,
    /// Defaults to the key's tenant; any other tenant is FORBIDDEN.
    tenant_id: Option<Uuid>,
}

/// The new key. `key` and `token` are the same secret, shown only in this answer.
#[derive(SimpleObject)]
#[graphql(name = "create_api_key_payload", rename_fields = "snake_case")]
pub struct CreateApiKeyPayload {
    id: Uuid,
    key: String,
    token: String,
}

#[derive(InputObject)]
#[graphql(name = "delete_api_key_input", rename_fields = "snake_case")]
pub struct DeleteApiKeyInput {
    key_id: Uuid,
}

#[derive(Default)]
pub struct ApiKeysQuery;

#[Object(rename_fields = "snake_case", rename_args = "snake_case")]
impl ApiKeysQuery {
    /// The caller's own keys in the key's tenant, plus every service-account key of that
    /// tenant when the caller is an admin there. Newest first.
    async fn auth_api_key(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<GqlApiKey>> {
        let (keys, now) = RequestContext::of(ctx)?
            .run(|conn, now, actor| Ok((api_keys::list_visible_api_keys(conn, actor)?, now)))
            .await?;
        Ok(keys.into_iter().map(|k| GqlApiKey::new(k, now)).collect())
    }
}

#[derive(Default)]
pub struct ApiKeysMutation;

#[Object(rename_fields = "snake_case", rename_args = "snake_case")]
impl ApiKeysMutation {
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        input: CreateApiKeyInput,
    ) -> async_graphql::Result<CreateApiKeyPayload> {
        let name = KeyName::parse(&input.name).map_err(|e| AppError::from(e).into_graphql())?;
        let created = RequestContext::of(ctx)?
            .run(move |conn, now, actor| {
                let expires_at = input
                    .expires_at
                    .map(|at| ExpiresAt::parse(at.0, now))
                    .transpose()?;
                api_keys::create_api_key(
                    conn,
                    actor,
                    now,
                    NewApiKey {
                        account_id: input.user_id.0,
                        tenant_id: input.tenant_id.map(|t| t.0),
                        name,
                        expires_at,
                    },
                )
            })
            .await?;
        let secret = created.token.expose_secret().to_string();
        Ok(CreateApiKeyPayload {
            id: created.key.id.into(),
            key: secret.clone(),
            token: secret,
        })
    }

    /// Revokes a key at once. Any key the caller may not revoke — unknown, another
    /// person's, another tenant's — answers `success: false` with "API key not found"
    /// (NOT_FOUND), so nobody learns that someone else's key exists.
    async fn delete_api_key(
        &self,
        ctx: &Context<'_>,
        input: DeleteApiKeyInput,
    ) -> async_graphql::Result<SuccessPayload> {
        let key_id = input.key_id.0;
        let outcome = RequestContext::of(ctx)?
            .try_run(move |conn, now, actor| api_keys::revoke_api_key(conn, actor, now, &key_id))
            .await;
        match outcome {
            Ok(_) => Ok(SuccessPayload { success: true }),
            Err(e @ AppError::NotFound(_)) => {
                let error = e.into_graphql().into_server_error(ctx.item.pos);
                ctx.add_error(ctx.set_error_path(error));
                Ok(SuccessPayload { success: false })
            }
            Err(e) => Err(e.into_graphql()),
        }
    }
}
