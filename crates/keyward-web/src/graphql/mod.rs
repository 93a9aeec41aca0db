//! The GraphQL surface of DESIGN §5: a Prefect 1.x-compatible API-key API plus a query or
//! mutation for every dashboard action. Resolvers only translate: they parse arguments
//! into domain types and call `services/` through `AppState::run`, with the `Actor` the
//! request's API key authenticated as. Every permission decision stays in the services.
//!
//! Names are snake_case and some type names are fixed (`create_api_key_input`, …)
//! because clients declare them in their operations.

mod agents;
mod api_keys;
mod audit;
mod auth;
mod context;
pub mod documents;
mod key_clients;

mod key_lifecycle;

mod ip_allow;
pub mod limits;
mod lists;
pub mod loaders;
mod members;
mod notifications;
mod scalars;
mod service_accounts;
mod sso;
mod tenants;
mod two_factor;
mod webhooks;

pub use agents::AgentIdHeader;
pub use context::RequestContext;
pub use limits::MAX_MUTATIONS;
pub use scalars::{DateTime, Uuid};

use async_graphql::{EmptySubscription, MergedObject, Schema, SimpleObject};

/// How deep a selection may nest. GraphiQL 3.8.3's introspection query needs 15 (its `TypeRef`
/// fragment unwraps `ofType` nine times); anything much deeper is an attack, not a client.
pub const MAX_DEPTH: usize = 18;
/// How many values one operation may answer, counted by async-graphql's complexity: one
/// per field, and a list field counts its `limit` (default 1,000) times its children, so
/// aliases and nested lists add up. The Prefect client's `auth_api_key { … }` of seven
/// fields counts 7,001; GraphiQL's introspection query a few hundred.
pub const MAX_COMPLEXITY: usize = 20_000;
/// How deep the parser may recurse. Above the depth limit, so that a deeply nested query
/// is refused by the depth limit with its clear message; far deeper ones stop here.
pub const MAX_RECURSION: usize = 64;

/// `query_root` and `mutation_root`, as Hasura (and so Prefect Cloud) name them.
#[derive(MergedObject, Default)]
#[graphql(name = "query_root")]
pub struct QueryRoot(
    auth::AuthQuery,
    tenants::TenantsQuery,
    api_keys::ApiKeysQuery,
    service_accounts::ServiceAccountsQuery,
    members::MembersQuery,
    audit::AuditQuery,
    agents::AgentsQuery,
    key_lifecycle::KeyLifecycleQuery,
    two_factor::TwoFactorQuery,
    sso::SsoQuery,
    notifications::NotificationsQuery,
    webhooks::WebhooksQuery,
);

#[derive(MergedObject, Default)]
#[graphql(name = "mutation_root")]
pub struct MutationRoot(
    auth::AuthMutation,
    api_keys::ApiKeysMutation,
    service_accounts::ServiceAccountsMutation,
    members::MembersMutation,
    agents::AgentsMutation,
    key_lifecycle::KeyLifecycleMutation,
    ip_allow::IpAllowMutation,
    two_factor::TwoFactorMutation,
    sso::SsoMutation,
    notifications::NotificationsMutation,
    webhooks::WebhooksMutation,
);

pub type KeywardSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// The schema, without per-request data (that comes with each request as a
/// `RequestContext`). Cheap to clone; build it once at start-up.
pub fn build_schema() -> KeywardSchema {
    builder().finish()
}

fn builder() -> async_graphql::SchemaBuilder<QueryRoot, MutationRoot, EmptySubscription> {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        EmptySubscription,
    )
    .limit_recursive_depth(MAX_RECURSION)
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY)
}

/// The schemas requests run on: `strict` validates every document with all of GraphQL's
/// rules; `validated` runs documents that already passed them (`documents`) with only
/// the checks that can change from one request to the next (complexity, which counts a
/// variable `limit`, depth, fragment cycles). The same types, so the same answers.
pub struct Schemas {
    pub strict: KeywardSchema,
    pub validated: KeywardSchema,
}

impl Schemas {
    pub fn build() -> Self {
        Self {
            strict: build_schema(),
            validated: builder()
                .validation_mode(async_graphql::ValidationMode::Fast)
                .finish(),
        }
    }
}

/// `{ success }`: the answer of mutations that have nothing else to return.
#[derive(SimpleObject)]
#[graphql(name = "success_payload", rename_fields = "snake_case")]
pub struct SuccessPayload {
    pub success: bool,
}
