//! `auth_api_key { clients { … } }`: the clients seen using each key.

use crate::db::models::api_key_client::KeyClient;
use crate::graphql::api_keys::GqlApiKey;
use crate::graphql::context::RequestContext;
use crate::graphql::scalars::DateTime;
use crate::services::key_clients;
use async_graphql::{ComplexObject, Context, SimpleObject};

#[derive(SimpleObject, Clone)]
#[graphql(name = "api_key_client", rename_fields = "snake_case")]
pub struct GqlKeyClient {
    /// The User-Agent header it sent ("unknown" when none), at most 200 characters.
    user_agent: String,
    /// Its address (null when unknown).
    ip: Option<String>,
    first_seen_at: DateTime,
    last_seen_at: DateTime,
}

impl From<KeyClient> for GqlKeyClient {
    fn from(c: KeyClient) -> Self {
        GqlKeyClient {
            user_agent: c.user_agent,
            ip: Some(c.ip).filter(|ip| !ip.is_empty()),
            first_seen_at: c.first_seen_at.into(),
            last_seen_at: c.last_seen_at.into(),
        }
    }
}

/// Loads the clients of every key of a list in one query, when the query asks for them.
pub async fn preload(ctx: &Context<'_>, keys: &mut [GqlApiKey]) -> async_graphql::Result<()> {
    if keys.is_empty() || !ctx.look_ahead().field("clients").exists() {
        return Ok(());
    }
    let ids: Vec<String> = keys.iter().map(|k| k.id.0.clone()).collect();
    let mut by_key = RequestContext::of(ctx)?
        .run(move |conn, _, _| key_clients::clients_of_keys(conn, &ids))
        .await?;
    for key in keys {
        let clients = by_key.remove(&key.id.0).unwrap_or_default();
        key.clients = Some(clients.into_iter().map(GqlKeyClient::from).collect());
    }
    Ok(())
}

#[ComplexObject(rename_fields = "snake_case", rename_args = "snake_case")]
impl GqlApiKey {
    /// The clients seen using this key (user agent and address), most recently seen
    /// first; at most 5, written at most once a minute each.
    async fn clients(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<GqlKeyClient>> {
        if let Some(clients) = &self.clients {
            return Ok(clients.clone());
        }
        let ids = vec![self.id.0.clone()];
        let mut by_key = RequestContext::of(ctx)?
            .run(move |conn, _, _| key_clients::clients_of_keys(conn, &ids))
            .await?;
        Ok(by_key
            .remove(&self.id.0)
            .unwrap_or_default()
            .into_iter()
            .map(GqlKeyClient::from)
            .collect())
    }
}
