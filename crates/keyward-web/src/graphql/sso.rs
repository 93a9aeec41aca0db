//! Tenants that require single sign-on of their members (issue 30). Turning it on needs
//! single sign-on set up on this Keyward and the caller's own account linked to the
//! provider (`services::oidc::set_tenant_requirement`). API keys read the setting but never
//! change it: a key outlives its owner's removal at the provider.

use crate::graphql::context::{tenant_or_own, RequestContext};
use crate::graphql::scalars::Uuid;
use crate::services::oidc;
use async_graphql::{Context, InputObject, Object, SimpleObject};

#[derive(SimpleObject)]
#[graphql(name = "tenant_sso_requirement", rename_fields = "snake_case")]
pub struct GqlSsoRequirement {
    tenant_id: Uuid,
    /// Members sign in to the dashboard through the OpenID provider only (API keys are
    /// not affected).
    required: bool,
}

#[derive(InputObject)]
#[graphql(name = "set_tenant_sso_required_input", rename_fields = "snake_case")]
pub struct SetTenantSsoRequiredInput {
    /// Default: the key's tenant.
    tenant_id: Option<Uuid>,
    required: bool,
}

#[derive(Default)]
pub struct SsoQuery;

#[Object(rename_fields = "snake_case", rename_args = "snake_case")]
impl SsoQuery {
    /// Whether the tenant (default: the key's) requires single sign-on of its members;
    /// admins.
    async fn tenant_sso_requirement(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<Uuid>,
    ) -> async_graphql::Result<GqlSsoRequirement> {
        RequestContext::of(ctx)?
            .run(move |conn, _, actor| {
                let tenant_id = tenant_or_own(tenant_id, actor)?;
                let required = oidc::tenant_requirement(conn, actor, &tenant_id)?;
                Ok(GqlSsoRequirement {
                    tenant_id: tenant_id.into(),
                    required,
                })
            })
            .await
    }
}

#[derive(Default)]
pub struct SsoMutation;

#[Object(rename_fields = "snake_case", rename_args = "snake_case")]
impl SsoMutation {
    /// Requires (or stops requiring) single sign-on of the tenant's members. Always
    /// FORBIDDEN through an API key (a key outlives its owner's removal at the provider):
    /// admins change it in the dashboard.
    async fn set_tenant_sso_required(
        &self,
        ctx: &Context<'_>,
        input: SetTenantSsoRequiredInput,
    ) -> async_graphql::Result<GqlSsoRequirement> {
        let context = RequestContext::of(ctx)?;
        let sso = context.state.sso.as_ref().map(|s| s.settings.clone());
        context
            .run(move |conn, now, actor| {
                let tenant_id = tenant_or_own(input.tenant_id, actor)?;
                let required = oidc::set_tenant_requirement(
                    conn,
                    actor,
                    now,
                    &tenant_id,
                    input.required,
                    sso.as_ref(),
                )?;
                Ok(GqlSsoRequirement {
                    tenant_id: tenant_id.into(),
                    required,
                })
            })
            .await
    }
}
