//! What a resolver knows about its request: the application state and, when the request
//! carried a valid key, who it authenticated as.

use crate::api_caller::ApiCaller;
use crate::db::DbConnection;
use crate::domain::TenantId;
use crate::error::{AppError, GraphqlAnswer};
use crate::graphql::scalars::Uuid;
use crate::services::Actor;
use crate::state::AppState;
use async_graphql::Context;
use time::PrimitiveDateTime;

pub struct RequestContext {
    pub state: AppState,
    /// `None` when the request carried no Authorization header at all.
    pub caller: Option<ApiCaller>,
}

impl RequestContext {
    pub fn of<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a RequestContext> {
        ctx.data::<RequestContext>().map_err(|_| {
            AppError::internal("the GraphQL request context is missing").into_graphql()
        })
    }

    pub fn caller(&self) -> Result<&ApiCaller, AppError> {
        self.caller.as_ref().ok_or_else(|| {
            AppError::unauthenticated("missing API key: send it as `Authorization: Bearer <key>`")
        })
    }

    /// Runs a service call as the caller, off the executor. Errors keep their `AppError`
    /// so a resolver can turn one into data (see `delete_api_key`).
    pub async fn try_run<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection, PrimitiveDateTime, &Actor) -> Result<T, AppError>
            + Send
            + 'static,
    {
        let actor = self.caller()?.actor();
        self.state.run(move |conn, now| f(conn, now, &actor)).await
    }

    /// `try_run` with the error rendered for GraphQL.
    pub async fn run<T, F>(&self, f: F) -> async_graphql::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection, PrimitiveDateTime, &Actor) -> Result<T, AppError>
            + Send
            + 'static,
    {
        self.try_run(f).await.map_err(AppError::into_graphql)
    }
}

/// A `tenant_id` argument, or the key's own tenant when it is left out. A tenant other
/// than the key's is refused by the permission service, not here.
pub fn tenant_or_own(tenant_id: Option<Uuid>, actor: &Actor) -> Result<TenantId, AppError> {
    tenant_id
        .map(Uuid::tenant)
        .or_else(|| actor.bound_tenant().cloned())
        .ok_or_else(|| AppError::invalid("tenant_id", "name the tenant"))
}
