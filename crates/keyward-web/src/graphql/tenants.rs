//! `tenant(where, order_by, limit, offset)`: Hasura-style, as Prefect 1.x clients query
//! it. Through a key the answer is at most the key's own tenant.

use crate::db::models::Tenant;
use crate::domain::ids::parse_id;
use crate::error::{AppError, GraphqlAnswer};
use crate::graphql::context::RequestContext;
use crate::graphql::lists::{OrderBy, StringComparison, Window};
use crate::graphql::scalars::{DateTime, Uuid};
use crate::services;
use async_graphql::{Context, InputObject, Object, SimpleObject};

#[derive(SimpleObject)]
#[graphql(name = "tenant", rename_fields = "snake_case")]
pub struct GqlTenant {
    id: Uuid,
    name: String,
    slug: String,
    created_at: DateTime,
}

impl From<Tenant> for GqlTenant {
    fn from(t: Tenant) -> Self {
        GqlTenant {
            id: t.id.into(),
            name: t.name,
            slug: t.slug,
            created_at: t.created_at.into(),
        }
    }
}

#[derive(InputObject, Default)]
#[graphql(name = "tenant_bool_exp", rename_fields = "snake_case")]
pub struct TenantWhere {
    id: Option<StringComparison>,
    slug: Option<StringComparison>,
    name: Option<StringComparison>,
}

impl TenantWhere {
    fn matches(&self, t: &Tenant) -> bool {
        let id_ok = match self.id.as_ref().and_then(|c| c.eq.as_deref()) {
            Some(raw) => parse_id("id", raw).is_ok_and(|id| id == t.id),
            None => true,
        };
        let eq = |c: &Option<StringComparison>, v: &str| {
            c.as_ref()
                .and_then(|c| c.eq.as_deref())
                .is_none_or(|want| want == v)
        };
        id_ok && eq(&self.slug, &t.slug) && eq(&self.name, &t.name)
    }
}

#[derive(InputObject)]
#[graphql(name = "tenant_order_by", rename_fields = "snake_case")]
pub struct TenantOrderBy {
    id: Option<OrderBy>,
    slug: Option<OrderBy>,
    name: Option<OrderBy>,
    created_at: Option<OrderBy>,
}

#[derive(Default)]
pub struct TenantsQuery;

#[Object(rename_fields = "snake_case", rename_args = "snake_case")]
impl TenantsQuery {
    /// The key's own tenant, when it matches `where`. `order_by` is accepted for client
    /// compatibility; with at most one row there is nothing to order.
    async fn tenant(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "where")] filter: Option<TenantWhere>,
        #[graphql(name = "order_by")] _order_by: Option<Vec<TenantOrderBy>>,
        limit: Option<i32>,
        offset: Option<i32>,
    ) -> async_graphql::Result<Vec<GqlTenant>> {
        let window = Window::parse(limit, offset).map_err(AppError::into_graphql)?;
        let tenant = RequestContext::of(ctx)?
            .run(|conn, _, actor| services::tenants::own_tenant(conn, actor))
            .await?;
        let filter = filter.unwrap_or_default();
        Ok(std::iter::once(tenant)
            .filter(|t| filter.matches(t))
            .skip(window.offset as usize)
            .take(window.limit as usize)
            .map(GqlTenant::from)
            .collect())
    }
}
