//! Team › Service Accounts: list, detail with keys, create, rename, remove (admins).

use crate::db::models::api_key_list::KeyOrderField;
use crate::db::models::team_lists::TeamWhere;
use crate::domain::{PersonName, Role};
use crate::error::{AppError, GraphqlAnswer};
use crate::graphql::api_keys::{key_request, ApiKeyOrderBy, ApiKeyWhere, GqlApiKey};
use crate::graphql::auth::GqlRole;
use crate::graphql::context::{tenant_or_own, RequestContext};
use crate::graphql::lists::{
    first_order, offset_page, Aggregate, OrderBy, StringComparison, TimeComparison, Window,
};
use crate::graphql::loaders::{ServiceAccountKeys, ServiceAccountKeysLoader};
use crate::graphql::scalars::{DateTime, Uuid};
use crate::graphql::SuccessPayload;
use crate::services::service_accounts::{self, ServiceAccount};
use crate::services::team_lists::{self, TeamList};
use async_graphql::dataloader::DataLoader;
use async_graphql::{ComplexObject, Context, InputObject, Object, SimpleObject};

#[derive(SimpleObject)]
#[graphql(name = "service_account", rename_fields = "snake_case", complex)]
pub struct GqlServiceAccount {
    id: Uuid,
    name: String,
    tenant_id: Uuid,
    created_at: DateTime,
    /// How many keys it has.
    key_count: i64,
    /// The name of whoever created it, when known.
    created_by_name: Option<String>,
    /// Its role in its tenant: what its keys may do there.
    role: Option<GqlRole>,
}

impl From<ServiceAccount> for GqlServiceAccount {
    fn from(sa: ServiceAccount) -> Self {
        GqlServiceAccount {
            id: sa.account.id.into(),
            name: sa.account.name,
            tenant_id: sa.account.tenant_id.unwrap_or_default().into(),
            created_at: sa.account.created_at.into(),
            key_count: sa.key_count,
            created_by_name: sa.creator_name,
            role: sa.role.map(GqlRole::from),
        }
    }
}

#[ComplexObject(rename_fields = "snake_case", rename_args = "snake_case")]
impl GqlServiceAccount {
    /// Its keys, newest first (never their secrets); at most 1,000 rows.
    #[graphql(complexity = "Window::rows(limit) * child_complexity")]
    async fn api_keys(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "where")] filter: Option<ApiKeyWhere>,
        order_by: Option<Vec<ApiKeyOrderBy>>,
        limit: Option<i32>,
        offset: Option<i32>,
    ) -> async_graphql::Result<Vec<GqlApiKey>> {
        let (filter, page) = key_request(filter, order_by, limit, offset)?;
        let key = ServiceAccountKeys {
            account_id: self.id.0.clone(),
            filter,
            page,
        };
        let loader = ctx.data::<DataLoader<ServiceAccountKeysLoader>>()?;
        // The loader answers every account it was asked for.
        let Some((keys, now)) = loader.load_one(key).await? else {
            return Ok(Vec::new());
        };
        Ok(keys.into_iter().map(|k| GqlApiKey::new(k, now)).collect())
    }
}

#[derive(InputObject)]
#[graphql(name = "create_service_account_input", rename_fields = "snake_case")]
pub struct CreateServiceAccountInput {
    name: String,
    /// Defaults to the key's tenant.
    tenant_id: Option<Uuid>,
    /// The account's role in its tenant; default ADMIN.
    role: Option<GqlRole>,
}

#[derive(InputObject)]
#[graphql(name = "rename_service_account_input", rename_fields = "snake_case")]
pub struct RenameServiceAccountInput {
    id: Uuid,
    name: String,
}

#[derive(InputObject)]
#[graphql(name = "remove_service_account_input", rename_fields = "snake_case")]
pub struct RemoveServiceAccountInput {
    id: Uuid,
}

/// `where` on service accounts: all given conditions must hold.
#[derive(InputObject, Default)]
#[graphql(name = "service_account_bool_exp", rename_fields = "snake_case")]
pub struct ServiceAccountWhere {
    id: Option<StringComparison>,
    name: Option<StringComparison>,
    created_at: Option<TimeComparison>,
}

impl ServiceAccountWhere {
    fn into_filter(self) -> TeamWhere {
        let (created_before, created_after, _) = TimeComparison::parts(&self.created_at);
        TeamWhere {
            account_id: StringComparison::eq_of(&self.id),
            name_eq: StringComparison::eq_of(&self.name),
            name_like: StringComparison::ilike_of(&self.name),
            created_before,
            created_after,
            ..TeamWhere::default()
        }
    }
}

/// One sort key (the first one given is used); ties are broken by id.
#[derive(InputObject, Default)]
#[graphql(name = "service_account_order_by", rename_fields = "snake_case")]
pub struct ServiceAccountOrderBy {
    created_at: Option<OrderBy>,
    name: Option<OrderBy>,
}

fn parse_name(raw: &str) -> async_graphql::Result<PersonName> {
    PersonName::parse(raw).map_err(|e| AppError::from(e).into_graphql())
}

#[derive(Default)]
pub struct ServiceAccountsQuery;

#[Object(rename_fields = "snake_case", rename_args = "snake_case")]
impl ServiceAccountsQuery {
    /// The tenant's service accounts (default: the key's tenant), newest first; admins
    /// only. At most 1,000 rows.
    #[graphql(complexity = "Window::rows(limit) * child_complexity")]
    async fn service_accounts(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<Uuid>,
        #[graphql(name = "where")] filter: Option<ServiceAccountWhere>,
        order_by: Option<Vec<ServiceAccountOrderBy>>,
        limit: Option<i32>,
        offset: Option<i32>,
    ) -> async_graphql::Result<Vec<GqlServiceAccount>> {
        let order = first_order(order_by.unwrap_or_default().into_iter().map(|o| {
            [
                (KeyOrderField::CreatedAt, o.created_at),
                (KeyOrderField::Name, o.name),
            ]
        }));
        let page = offset_page(limit, offset, order)?;
        let w = filter.unwrap_or_default().into_filter();
        let list = RequestContext::of(ctx)?
            .run(move |conn, now, actor| {
                let tenant_id = tenant_or_own(tenant_id, actor)?;
                team_lists::service_accounts(conn, actor, now, &tenant_id, &w, &page)
            })
            .await?;
        Ok(list.into_iter().map(GqlServiceAccount::from).collect())
    }

    /// How many service accounts `service_accounts` would page through with this `where`.
    async fn service_accounts_aggregate(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<Uuid>,
        #[graphql(name = "where")] filter: Option<ServiceAccountWhere>,
    ) -> async_graphql::Result<Aggregate> {
        let w = filter.unwrap_or_default().into_filter();
        let count = RequestContext::of(ctx)?
            .run(move |conn, now, actor| {
                let tenant_id = tenant_or_own(tenant_id, actor)?;
                team_lists::count(conn, actor, now, TeamList::ServiceAccounts, &tenant_id, &w)
            })
            .await?;
        Ok(Aggregate::count(count))
    }

    /// One service account; admins of its tenant only.
    async fn service_account(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
    ) -> async_graphql::Result<GqlServiceAccount> {
        let sa = RequestContext::of(ctx)?
            .run(move |conn, _, actor| {
                service_accounts::get_service_account(conn, actor, None, &id.account())
            })
            .await?;
        Ok(sa.into())
    }
}

#[derive(Default)]
pub struct ServiceAccountsMutation;

#[Object(rename_fields = "snake_case", rename_args = "snake_case")]
impl ServiceAccountsMutation {
    async fn create_service_account(
        &self,
        ctx: &Context<'_>,
        input: CreateServiceAccountInput,
    ) -> async_graphql::Result<GqlServiceAccount> {
        let name = parse_name(&input.name)?;
        let context = RequestContext::of(ctx)?;
        let quotas = context.state.settings.quotas;
        let sa = context
            .run(move |conn, now, actor| {
                let tenant_id = tenant_or_own(input.tenant_id, actor)?;
                let account = service_accounts::create_service_account_within(
                    conn,
                    actor,
                    now,
                    &tenant_id,
                    name,
                    input.role.map_or(Role::Admin, Role::from),
                    &quotas,
                )?;
                service_accounts::get_service_account(conn, actor, None, &account.account_id())
            })
            .await?;
        Ok(sa.into())
    }

    async fn rename_service_account(
        &self,
        ctx: &Context<'_>,
        input: RenameServiceAccountInput,
    ) -> async_graphql::Result<GqlServiceAccount> {
        let name = parse_name(&input.name)?;
        let id = input.id.account();
        let sa = RequestContext::of(ctx)?
            .run(move |conn, now, actor| {
                service_accounts::rename_service_account(conn, actor, now, None, &id, name)?;
                service_accounts::get_service_account(conn, actor, None, &id)
            })
            .await?;
        Ok(sa.into())
    }

    /// Removes a service account and revokes all its keys at once.
    async fn remove_service_account(
        &self,
        ctx: &Context<'_>,
        input: RemoveServiceAccountInput,
    ) -> async_graphql::Result<SuccessPayload> {
        RequestContext::of(ctx)?
            .run(move |conn, now, actor| {
                service_accounts::remove_service_account(
                    conn,
                    actor,
                    now,
                    None,
                    &input.id.account(),
                )
            })
            .await?;
        Ok(SuccessPayload { success: true })
    }
}
