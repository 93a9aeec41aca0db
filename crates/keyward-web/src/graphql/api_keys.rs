//! `auth_api_key`, `create_api_key`, `delete_api_key`: the Prefect 1.x key API.

use crate::db::models::api_key::ApiKeyListing;
use crate::db::models::api_key_list::{KeyOrder, KeyOrderField, KeyPage, KeyWhere};
use crate::domain::{AllowedIps, ApiKeyId, ExpiresAt, KeyDescription, KeyName};
use crate::error::{AppError, GraphqlAnswer};
use crate::graphql::auth::GqlAccountType;
use crate::graphql::context::RequestContext;
use crate::graphql::lists::{
    first_order, offset_page, Aggregate, OrderBy, StringComparison, TimeComparison, Window,
};
use crate::graphql::scalars::{DateTime, Uuid};
use crate::services::api_keys::{self, NewApiKey};
use crate::services::{key_lists, key_revocation};
use async_graphql::{Context, InputObject, Object, SimpleObject};
use time::PrimitiveDateTime;

/// A key as listed: never its secret.
#[derive(SimpleObject)]
#[graphql(name = "auth_api_key", rename_fields = "snake_case", complex)]
pub struct GqlApiKey {
    pub(crate) id: Uuid,
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
    /// Loaded for a whole list at once by `key_clients::preload`.
    #[graphql(skip)]
    pub(crate) clients: Option<Vec<crate::graphql::key_clients::GqlKeyClient>>,

    /// Runs queries only; every mutation through it is FORBIDDEN.
    read_only: bool,
    /// Set once the key was rotated: its successor. The key stops at `expires_at`.
    rotated_to_key_id: Option<Uuid>,
    /// Still works and stops within 7 days (fewer than 7 × 24 hours left, less a
    /// minute's rounding; rotated keys count): the dashboard's badge, filter and banner
    /// use the same rule.
    expiring_soon: bool,
    /// The IPv4/IPv6 ranges the key may be used from; empty means anywhere.
    allowed_ips: Vec<String>,
    /// What the key is for, as its creator wrote it; null means none.
    description: Option<String>,
}

impl GqlApiKey {
    pub fn new(l: ApiKeyListing, now: PrimitiveDateTime) -> Self {
        GqlApiKey {
            expired: l.key.is_expired(now),
            read_only: l.key.read_only,
            rotated_to_key_id: l.key.rotated_to_key_id.clone().map(Uuid::from),
            expiring_soon: crate::services::key_expiry::expires_soon(&l.key, now),
            account_type: l.account.kind().into(),
            user_name: l.account.name.clone(),
            id: l.key.id.into(),
            name: l.key.name,
            user_id: l.key.account_id.into(),
            tenant_id: l.key.tenant_id.into(),
            display_hint: l.key.display_hint,
            created_at: l.key.created_at.into(),
            expires_at: l.key.expires_at.map(DateTime),
            last_used_at: l.key.last_used_at.map(DateTime),
            clients: None,
            allowed_ips: AllowedIps::from_stored(l.key.allowed_ips.as_deref()).texts(),
            description: Some(l.key.description).filter(|d| !d.is_empty()),
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
    /// A read-only key answers every query its owner may make and is FORBIDDEN on every
    /// mutation. Default false.
    read_only: Option<bool>,
    /// IPv4/IPv6 addresses or CIDR ranges (`203.0.113.0/24`, `2001:db8::/32`) the key may
    /// be used from; empty or absent means anywhere.
    allowed_ips: Option<Vec<String>>,
    /// What the key is for (at most 200 characters); empty or absent means none.
    description: Option<String>,
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
    /// Also revoke every key made through this one and remove every service account made
    /// through it, transitively, in one transaction. Null means false.
    with_descendants: Option<bool>,
}

#[derive(SimpleObject)]
#[graphql(name = "delete_api_key_payload", rename_fields = "snake_case")]
pub struct DeleteApiKeyPayload {
    success: bool,
    /// With `with_descendants`: the service accounts and service accounts' keys made
    /// through the key that the caller may not remove now, left in place.
    skipped: Vec<SkippedDescendant>,
}

#[derive(SimpleObject)]
#[graphql(name = "skipped_descendant", rename_fields = "snake_case")]
pub struct SkippedDescendant {
    id: Uuid,
    name: String,
    /// `API_KEY` or `SERVICE_ACCOUNT`.
    kind: String,
}

impl From<key_revocation::Skipped> for SkippedDescendant {
    fn from(s: key_revocation::Skipped) -> Self {
        Self {
            id: Uuid(s.id),
            name: s.name,
            kind: match s.kind {
                key_revocation::SkippedKind::ApiKey => "API_KEY",
                key_revocation::SkippedKind::ServiceAccount => "SERVICE_ACCOUNT",
            }
            .to_string(),
        }
    }
}

/// `where` on keys: all given conditions must hold.
#[derive(InputObject, Default)]
#[graphql(name = "auth_api_key_bool_exp", rename_fields = "snake_case")]
pub struct ApiKeyWhere {
    name: Option<StringComparison>,
    user_id: Option<StringComparison>,
    tenant_id: Option<StringComparison>,
    /// With `order_by: {created_at: desc}`, `{_lt: <the last row's created_at>}` reads
    /// the next rows at any depth, where `offset` stops at 10,000.
    created_at: Option<TimeComparison>,
    expires_at: Option<TimeComparison>,
    last_used_at: Option<TimeComparison>,
}

impl ApiKeyWhere {
    pub fn into_filter(self) -> KeyWhere {
        let (expires_before, expires_after, expires_is_null) =
            TimeComparison::parts(&self.expires_at);
        let (used_before, used_after, never_used) = TimeComparison::parts(&self.last_used_at);
        let (created_before, created_after, _) = TimeComparison::parts(&self.created_at);
        KeyWhere {
            created_before,
            created_after,
            name_like: StringComparison::ilike_of(&self.name),
            key_name: StringComparison::eq_of(&self.name),
            expires_before,
            expires_after,
            expires_is_null,
            used_before,
            used_after,
            never_used,
            account_id: StringComparison::eq_of(&self.user_id),
            tenant_id: StringComparison::eq_of(&self.tenant_id),
            ..KeyWhere::default()
        }
    }
}

/// One sort key (the first one given is used); ties are broken by id.
#[derive(InputObject, Default)]
#[graphql(name = "auth_api_key_order_by", rename_fields = "snake_case")]
pub struct ApiKeyOrderBy {
    created_at: Option<OrderBy>,
    name: Option<OrderBy>,
    expires_at: Option<OrderBy>,
    last_used_at: Option<OrderBy>,
}

/// The first sort key given, or newest first.
pub fn key_order(order_by: Option<Vec<ApiKeyOrderBy>>) -> KeyOrder {
    use KeyOrderField::*;
    first_order(order_by.unwrap_or_default().into_iter().map(|o| {
        [
            (CreatedAt, o.created_at),
            (Name, o.name),
            (ExpiresAt, o.expires_at),
            (LastUsedAt, o.last_used_at),
        ]
    }))
}

/// A key list field's arguments, checked: what to match and which page.
pub fn key_request(
    filter: Option<ApiKeyWhere>,
    order_by: Option<Vec<ApiKeyOrderBy>>,
    limit: Option<i32>,
    offset: Option<i32>,
) -> async_graphql::Result<(KeyWhere, KeyPage)> {
    let page = offset_page(limit, offset, key_order(order_by))?;
    Ok((filter.unwrap_or_default().into_filter(), page))
}

#[derive(Default)]
pub struct ApiKeysQuery;

#[Object(rename_fields = "snake_case", rename_args = "snake_case")]
impl ApiKeysQuery {
    /// The caller's own keys in the key's tenant, plus every service-account key of that
    /// tenant when the caller is an admin there. Newest first; at most 1,000 rows.
    #[graphql(complexity = "Window::rows(limit) * child_complexity")]
    async fn auth_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "where")] filter: Option<ApiKeyWhere>,
        order_by: Option<Vec<ApiKeyOrderBy>>,
        limit: Option<i32>,
        offset: Option<i32>,
    ) -> async_graphql::Result<Vec<GqlApiKey>> {
        let (filter, page) = key_request(filter, order_by, limit, offset)?;
        let (keys, now) = RequestContext::of(ctx)?
            .run(move |conn, now, actor| {
                Ok((
                    key_lists::visible_api_keys(conn, actor, &filter, &page)?,
                    now,
                ))
            })
            .await?;
        let mut keys: Vec<GqlApiKey> = keys.into_iter().map(|k| GqlApiKey::new(k, now)).collect();
        crate::graphql::key_clients::preload(ctx, &mut keys).await?;
        Ok(keys)
    }

    /// How many keys `auth_api_key` would page through with this `where`.
    async fn auth_api_key_aggregate(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "where")] filter: Option<ApiKeyWhere>,
    ) -> async_graphql::Result<Aggregate> {
        let filter = filter.unwrap_or_default().into_filter();
        let count = RequestContext::of(ctx)?
            .run(move |conn, _, actor| key_lists::count_visible_api_keys(conn, actor, &filter))
            .await?;
        Ok(Aggregate::count(count))
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
        let allowed = AllowedIps::parse(input.allowed_ips.as_deref().unwrap_or_default())
            .map_err(|e| AppError::from(e).into_graphql())?;
        let description = KeyDescription::parse(input.description.as_deref().unwrap_or_default())
            .map_err(|e| AppError::from(e).into_graphql())?;
        let context = RequestContext::of(ctx)?;
        let quotas = context.state.settings.quotas;
        let created = context
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
                        account_id: input.user_id.account(),
                        tenant_id: input.tenant_id.map(Uuid::tenant),
                        name,
                        expires_at,
                        read_only: input.read_only.unwrap_or(false),
                        allowed_ips: allowed,
                        description,
                    },
                    ApiKeyId::generate(),
                    &quotas,
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
    ) -> async_graphql::Result<DeleteApiKeyPayload> {
        let key_id = input.key_id.api_key();
        let with_descendants = input.with_descendants.unwrap_or(false);
        let outcome = RequestContext::of(ctx)?
            .try_run(move |conn, now, actor| {
                if with_descendants {
                    key_revocation::revoke_with_descendants(conn, actor, now, &key_id, None)
                        .map(|(_, found)| found.skipped)
                } else {
                    api_keys::revoke_api_key(conn, actor, now, &key_id).map(|_| Vec::new())
                }
            })
            .await;
        match outcome {
            Ok(skipped) => Ok(DeleteApiKeyPayload {
                success: true,
                skipped: skipped.into_iter().map(SkippedDescendant::from).collect(),
            }),
            Err(e @ AppError::NotFound(_)) => {
                let error = e.into_graphql().into_server_error(ctx.item.pos);
                ctx.add_error(ctx.set_error_path(error));
                Ok(DeleteApiKeyPayload {
                    success: false,
                    skipped: Vec::new(),
                })
            }
            Err(e) => Err(e.into_graphql()),
        }
    }
}
