//! Request-cost limits checked on the parsed document, before anything runs: at most
//! `MAX_MUTATIONS` mutation fields in one request (aliases count one each). Rows are
//! bounded by complexity (a list counts its `limit` times its children, see `MAX_COMPLEXITY`).

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::{ErrorExtensionValues, ServerError, ServerResult, Variables};
use std::sync::Arc;

/// The most mutation fields one request may carry.
pub const MAX_MUTATIONS: usize = 10;

pub struct RequestLimits;

impl ExtensionFactory for RequestLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestLimitsExtension)
    }
}

struct RequestLimitsExtension;

fn count_fields(doc: &ExecutableDocument, set: &SelectionSet, depth: usize) -> usize {
    if depth > 16 {
        return 0;
    }
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(_) => 1,
            Selection::InlineFragment(f) => {
                count_fields(doc, &f.node.selection_set.node, depth + 1)
            }
            Selection::FragmentSpread(s) => doc
                .fragments
                .get(&s.node.fragment_name.node)
                .map_or(0, |f| {
                    count_fields(doc, &f.node.selection_set.node, depth + 1)
                }),
        })
        .sum()
}

pub fn bad_user_input(message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", "BAD_USER_INPUT");
    error.extensions = Some(extensions);
    error
}

#[async_graphql::async_trait::async_trait]
impl Extension for RequestLimitsExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        let mutations: usize = doc
            .operations
            .iter()
            .filter(|(_, op)| op.node.ty == OperationType::Mutation)
            .map(|(_, op)| count_fields(&doc, &op.node.selection_set.node, 0))
            .max()
            .unwrap_or(0);
        if mutations > MAX_MUTATIONS {
            return Err(bad_user_input(format!(
                "this request carries {mutations} mutations; at most {MAX_MUTATIONS} are allowed in one request: send the rest in further requests"
            )));
        }
        Ok(doc)
    }
}
