//! Tenants that require two-factor authentication of their members (issue 27). A
//! person's own two-factor is managed only in the dashboard: it guards the browser
//! sign-in, and a key must not turn it on or off.

use crate::graphql::context::{tenant_or_own, RequestContext};
use crate::graphql::scalars::Uuid;
use crate::services::two_factor;
use async_graphql::{Context, InputObject, Object, SimpleObject};

#[derive(SimpleObject)]
#[graphql(name = "tenant_two_factor_requirement", rename_fields = "snake_case")]
pub struct GqlTwoFactorRequirement {
    tenant_id: Uuid,
    /// Members without two-factor are sent to turn it on before any other page of the
    /// tenant (API keys are not affected).
    required: bool,
}

#[derive(InputObject)]
#[graphql(
    name = "set_tenant_two_factor_required_input",
    rename_fields = "snake_case"
)]
pub struct SetTenantTwoFactorRequiredInput {
    /// Default: the key's tenant.
    tenant_id: Option<Uuid>,
    required: bool,
}

#[derive(Default)]
pub struct TwoFactorQuery;

#[Object(rename_fields = "snake_case", rename_args = "snake_case")]
impl TwoFactorQuery {
    /// Whether the tenant (default: the key's) requires two-factor of its members; admins.
    async fn tenant_two_factor_requirement(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<Uuid>,
    ) -> async_graphql::Result<GqlTwoFactorRequirement> {
        RequestContext::of(ctx)?
            .run(move |conn, _, actor| {
                let tenant_id = tenant_or_own(tenant_id, actor)?;
                let required = two_factor::tenant_requirement(conn, actor, &tenant_id)?;
                Ok(GqlTwoFactorRequirement {
                    tenant_id: tenant_id.into(),
                    required,
                })
            })
            .await
    }
}

#[derive(Default)]
pub struct TwoFactorMutation;

#[Object(rename_fields = "snake_case", rename_args = "snake_case")]
impl TwoFactorMutation {
    /// Requires (or stops requiring) two-factor of the tenant's members; human admins.
    async fn set_tenant_two_factor_required(
        &self,
        ctx: &Context<'_>,
        input: SetTenantTwoFactorRequiredInput,
    ) -> async_graphql::Result<GqlTwoFactorRequirement> {
        RequestContext::of(ctx)?
            .run(move |conn, now, actor| {
                let tenant_id = tenant_or_own(input.tenant_id, actor)?;
                let required = two_factor::set_tenant_requirement(
                    conn,
                    actor,
                    now,
                    &tenant_id,
                    input.required,
                )?;
                Ok(GqlTwoFactorRequirement {
                    tenant_id: tenant_id.into(),
                    required,
                })
            })
            .await
    }
}
