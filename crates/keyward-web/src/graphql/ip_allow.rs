//! `set_api_key_allowed_ips`: replace a key's IP allow-list.

use crate::domain::AllowedIps;
use crate::error::{AppError, GraphqlAnswer};
use crate::graphql::context::RequestContext;
use crate::graphql::scalars::Uuid;
use crate::services::ip_allow;
use async_graphql::{Context, InputObject, Object, SimpleObject};

#[derive(InputObject)]
#[graphql(name = "set_api_key_allowed_ips_input", rename_fields = "snake_case")]
pub struct SetApiKeyAllowedIpsInput {
    key_id: Uuid,
    /// IPv4/IPv6 addresses or CIDR ranges; an empty list lets the key be used anywhere.
    allowed_ips: Vec<String>,
}

#[derive(SimpleObject)]
#[graphql(name = "set_api_key_allowed_ips_payload", rename_fields = "snake_case")]
pub struct SetApiKeyAllowedIpsPayload {
    id: Uuid,
    allowed_ips: Vec<String>,
}

#[derive(Default)]
pub struct IpAllowMutation;

#[Object(rename_fields = "snake_case", rename_args = "snake_case")]
impl IpAllowMutation {
    /// Replaces the ranges a key may be used from. Allowed to whoever may revoke the key;
    /// any other key answers NOT_FOUND.
    async fn set_api_key_allowed_ips(
        &self,
        ctx: &Context<'_>,
        input: SetApiKeyAllowedIpsInput,
    ) -> async_graphql::Result<SetApiKeyAllowedIpsPayload> {
        let allowed =
            AllowedIps::parse(&input.allowed_ips).map_err(|e| AppError::from(e).into_graphql())?;
        let key_id = input.key_id.api_key();
        let key = RequestContext::of(ctx)?
            .run(move |conn, now, actor| {
                ip_allow::set_api_key_allowed_ips(conn, actor, now, &key_id, None, &allowed)
            })
            .await?;
        Ok(SetApiKeyAllowedIpsPayload {
            allowed_ips: AllowedIps::from_stored(key.allowed_ips.as_deref()).texts(),
            id: key.id.into(),
        })
    }
}
