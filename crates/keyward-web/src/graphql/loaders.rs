//! Nested lists resolved in one query per level (async-graphql's `DataLoader`): every
//! `service_account.api_keys` of a request asked with the same arguments is collected and
//! read at once, so `service_accounts { api_keys { … } }` costs the same few queries for
//! one service account or a thousand.

use crate::db::models::api_key::ApiKeyListing;
use crate::db::models::api_key_list::{KeyPage, KeyWhere};
use crate::graphql::context::RequestContext;
use crate::services::key_lists;
use async_graphql::dataloader::{DataLoader, Loader};
use std::collections::HashMap;
use time::PrimitiveDateTime;

/// One service account's page of keys, as a nested `api_keys` asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceAccountKeys {
    pub account_id: String,
    pub filter: KeyWhere,
    pub page: KeyPage,
}

/// Reads the pages of `ServiceAccountKeys` as the request's caller.
pub struct ServiceAccountKeysLoader {
    context: RequestContext,
}

/// The loaders of one request, to add to its data.
pub fn for_request(context: &RequestContext) -> DataLoader<ServiceAccountKeysLoader> {
    let context = RequestContext {
        state: context.state.clone(),
        caller: context.caller.clone(),
    };
    DataLoader::new(ServiceAccountKeysLoader { context }, actix_web::rt::spawn)
}

impl Loader<ServiceAccountKeys> for ServiceAccountKeysLoader {
    type Value = (Vec<ApiKeyListing>, PrimitiveDateTime);
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[ServiceAccountKeys],
    ) -> Result<HashMap<ServiceAccountKeys, Self::Value>, Self::Error> {
        // One batch per distinct (where, page); a request rarely has more than one.
        let mut groups: HashMap<(KeyWhere, KeyPage), Vec<String>> = HashMap::new();
        for k in keys {
            groups
                .entry((k.filter.clone(), k.page.clone()))
                .or_default()
                .push(k.account_id.clone());
        }
        let mut answers = HashMap::new();
        for ((filter, page), ids) in groups {
            let (f, p, i) = (filter.clone(), page.clone(), ids.clone());
            let (mut found, now) = self
                .context
                .run(move |conn, now, actor| {
                    let found = key_lists::keys_of_service_accounts(conn, actor, &i, &f, &p)?;
                    Ok((found, now))
                })
                .await?;
            for account_id in ids {
                let listings = found.remove(&account_id).unwrap_or_default();
                let key = ServiceAccountKeys {
                    account_id,
                    filter: filter.clone(),
                    page: page.clone(),
                };
                answers.insert(key, (listings, now));
            }
        }
        Ok(answers)
    }
}
