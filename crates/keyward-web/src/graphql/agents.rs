//! What a Prefect 1.x agent sends to start and poll (`register_agent`,
//! `get_runs_in_queue`, with the agent's id in `X-PREFECT-AGENT-ID`), and `agents` to
//! see them. Enough for agents to authenticate and be seen; Keyward runs no flows.

use crate::db::models::agent::AgentListing;
use crate::domain::AgentId;
use crate::error::{AppError, GraphqlAnswer};
use crate::graphql::context::RequestContext;
use crate::graphql::lists::{Aggregate, Window};
use crate::graphql::scalars::{DateTime, Uuid};
use crate::services::agents::{self, AgentRegistration, AgentStatus};
use actix_web::http::header::HeaderMap;
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};
use time::PrimitiveDateTime;

/// The `X-PREFECT-AGENT-ID` header of the request, which ties polls to an agent.
#[derive(Debug, Clone, Default)]
pub struct AgentIdHeader(pub Option<String>);

impl AgentIdHeader {
    pub fn of(headers: &HeaderMap) -> Self {
        AgentIdHeader(
            headers
                .get("x-prefect-agent-id")
                .and_then(|v| v.to_str().ok())
                .map(|s| s.trim().to_string()),
        )
    }
}

#[derive(InputObject)]
#[graphql(name = "register_agent_input", rename_fields = "snake_case")]
pub struct RegisterAgentInput {
    /// The agent's class, such as `LocalAgent`.
    #[graphql(name = "type")]
    agent_type: Option<String>,
    name: Option<String>,
    labels: Option<Vec<Option<String>>>,
    /// Defaults to the key's tenant; any other tenant is FORBIDDEN.
    tenant_id: Option<Uuid>,
    /// Keyward keeps no agent configurations: must be null.
    agent_config_id: Option<Uuid>,
}

#[derive(SimpleObject)]
#[graphql(name = "register_agent_payload", rename_fields = "snake_case")]
pub struct RegisterAgentPayload {
    id: Uuid,
}

#[derive(InputObject)]
#[graphql(name = "get_runs_in_queue_input", rename_fields = "snake_case")]
pub struct GetRunsInQueueInput {
    before: Option<DateTime>,
    labels: Option<Vec<Option<String>>>,
    tenant_id: Option<Uuid>,
    /// The polling agent; the `X-PREFECT-AGENT-ID` header says the same.
    agent_id: Option<Uuid>,
}

/// Always empty: Keyward runs no flows.
#[derive(SimpleObject)]
#[graphql(name = "runs_in_queue_payload", rename_fields = "snake_case")]
pub struct RunsInQueuePayload {
    flow_run_ids: Vec<String>,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "agent_status", rename_items = "SCREAMING_SNAKE_CASE")]
pub enum GqlAgentStatus {
    Active,
    /// Not seen for 5 minutes.
    Silent,
    /// Its key was revoked, or its service account removed.
    KeyRevoked,
}

impl From<AgentStatus> for GqlAgentStatus {
    fn from(s: AgentStatus) -> Self {
        match s {
            AgentStatus::Active => GqlAgentStatus::Active,
            AgentStatus::Silent => GqlAgentStatus::Silent,
            AgentStatus::KeyRevoked => GqlAgentStatus::KeyRevoked,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "agent", rename_fields = "snake_case")]
pub struct GqlAgent {
    id: Uuid,
    name: String,
    #[graphql(name = "type")]
    agent_type: String,
    labels: Vec<String>,
    /// The key it authenticated with (it may be revoked since).
    api_key_id: Uuid,
    /// The key's name; null once the key is revoked.
    api_key_name: Option<String>,
    /// The account that owns the key.
    user_id: Uuid,
    tenant_id: Uuid,
    first_seen_at: DateTime,
    last_seen_at: DateTime,
    status: GqlAgentStatus,
}

impl GqlAgent {
    fn new(l: AgentListing, now: PrimitiveDateTime) -> Self {
        GqlAgent {
            status: AgentStatus::of(&l, now).into(),
            labels: agents::labels_of(&l.agent),
            id: l.agent.id.into(),
            name: l.agent.name,
            agent_type: l.agent.agent_type,
            api_key_id: l.agent.api_key_id.into(),
            api_key_name: l.key_name,
            user_id: l.agent.account_id.into(),
            tenant_id: l.agent.tenant_id.into(),
            first_seen_at: l.agent.first_seen_at.into(),
            last_seen_at: l.agent.last_seen_at.into(),
        }
    }
}

fn labels(raw: Option<Vec<Option<String>>>) -> Option<Vec<String>> {
    raw.map(|ls| ls.into_iter().flatten().collect())
}

#[derive(Default)]
pub struct AgentsQuery;

#[Object(rename_fields = "snake_case", rename_args = "snake_case")]
impl AgentsQuery {
    /// The tenant's agents for its admins; for other members, the agents that used their
    /// own keys. Most recently seen first; at most 1,000 rows.
    #[graphql(complexity = "Window::rows(limit) * child_complexity")]
    async fn agents(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<Uuid>,
        limit: Option<i32>,
        offset: Option<i32>,
    ) -> async_graphql::Result<Vec<GqlAgent>> {
        let window = Window::parse(limit, offset).map_err(AppError::into_graphql)?;
        let tenant_id = tenant_id.map(Uuid::tenant);
        let (rows, now) = RequestContext::of(ctx)?
            .run(move |conn, now, actor| {
                let rows = agents::list_agents(
                    conn,
                    actor,
                    tenant_id.as_ref(),
                    window.limit,
                    window.offset,
                )?;
                Ok((rows, now))
            })
            .await?;
        Ok(rows.into_iter().map(|l| GqlAgent::new(l, now)).collect())
    }

    /// How many agents `agents` pages through.
    async fn agents_aggregate(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<Uuid>,
    ) -> async_graphql::Result<Aggregate> {
        let tenant_id = tenant_id.map(Uuid::tenant);
        let count = RequestContext::of(ctx)?
            .run(move |conn, _, actor| agents::count_agents(conn, actor, tenant_id.as_ref()))
            .await?;
        Ok(Aggregate::count(count))
    }
}

#[derive(Default)]
pub struct AgentsMutation;

#[Object(rename_fields = "snake_case", rename_args = "snake_case")]
impl AgentsMutation {
    /// Records the agent (name, type, labels, the key it authenticated with) and returns
    /// its id. The same key registering the same name and type again gets the same id.
    async fn register_agent(
        &self,
        ctx: &Context<'_>,
        input: RegisterAgentInput,
    ) -> async_graphql::Result<RegisterAgentPayload> {
        if input.agent_config_id.is_some() {
            return Err(AppError::invalid(
                "agent_config_id",
                "Keyward keeps no agent configurations; start the agent without --agent-config-id",
            )
            .into_graphql());
        }
        let registration = AgentRegistration {
            name: input.name,
            agent_type: input.agent_type,
            labels: labels(input.labels),
            tenant_id: input.tenant_id.map(Uuid::tenant),
        };
        let agent = RequestContext::of(ctx)?
            .run(move |conn, now, actor| agents::register_agent(conn, actor, now, registration))
            .await?;
        Ok(RegisterAgentPayload {
            id: agent.id.into(),
        })
    }

    /// A poll: marks the agent seen and answers no flow runs.
    async fn get_runs_in_queue(
        &self,
        ctx: &Context<'_>,
        input: GetRunsInQueueInput,
    ) -> async_graphql::Result<RunsInQueuePayload> {
        // A header that is no UUID names no agent of this key: ignored, as an unknown id is.
        let header = ctx
            .data_opt::<AgentIdHeader>()
            .and_then(|h| h.0.as_deref())
            .map(|raw| AgentId::parse(raw).ok());
        let agent_id = header.unwrap_or_else(|| input.agent_id.map(Uuid::agent));
        let tenant_id = input.tenant_id.map(Uuid::tenant);
        let flow_run_ids = RequestContext::of(ctx)?
            .run(move |conn, now, actor| {
                agents::get_runs_in_queue(conn, actor, now, agent_id.as_ref(), tenant_id.as_ref())
            })
            .await?;
        Ok(RunsInQueuePayload { flow_run_ids })
    }
}
