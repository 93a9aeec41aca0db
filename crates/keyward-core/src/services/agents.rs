//! Prefect 1.x agents (DESIGN §5): enough for an agent to authenticate and be seen, not
//! a flow scheduler. An agent registers with its key (`register_agent`), then polls
//! (`get_runs_in_queue`, always empty: Keyward runs no flows); each poll marks it seen,
//! at most once a minute. Admins of a tenant list its agents, members the agents of
//! their own keys. An agent row outlives its key: the list says "key revoked", and the
//! agent's next request is told why its key stopped working.
//!
//! Bounds: a key keeps at most `MAX_AGENTS_PER_KEY` agents (registering one more forgets
//! the least recently seen) and a registration forgets the tenant's agents not seen for
//! `FORGOTTEN_AFTER`.

use crate::db::models::agent::{Agent, AgentListing, AgentWhere};
use crate::db::models::ApiKey;
use crate::db::DbConnection;
use crate::domain::{new_id, AccountId, AgentId, ApiKeyId, TenantId};
use crate::error::AppError;
use crate::services::actor::ActorKind;
use crate::services::permissions::{self, Permission};
use crate::services::{service_accounts, transaction, Actor, Principal};
use time::{Duration, PrimitiveDateTime};

/// Not seen for this long: `SILENT`.
pub const SILENT_AFTER: Duration = Duration::minutes(5);
pub const MAX_AGENTS_PER_KEY: usize = 10;
pub const FORGOTTEN_AFTER: Duration = Duration::days(30);
/// What the revoke dialog counts as "depends on this key".
pub const RECENT: Duration = Duration::hours(24);
const MAX_NAME_CHARS: usize = 200;
const MAX_LABELS: usize = 50;
const MAX_LABEL_CHARS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentStatus {
    Active,
    /// Not seen for `SILENT_AFTER`.
    Silent,
    /// Its key was revoked (or its account removed): it cannot authenticate any more.
    KeyRevoked,
}

impl AgentStatus {
    pub fn of(listing: &AgentListing, now: PrimitiveDateTime) -> Self {
        if listing.key_name.is_none() {
            AgentStatus::KeyRevoked
        } else if listing.agent.last_seen_at <= now - SILENT_AFTER {
            AgentStatus::Silent
        } else {
            AgentStatus::Active
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            AgentStatus::Active => "active",
            AgentStatus::Silent => "silent",
            AgentStatus::KeyRevoked => "key revoked",
        }
    }
}

/// What `register_agent` sends; every field is optional in Prefect's client.
#[derive(Debug, Clone, Default)]
pub struct AgentRegistration {
    pub name: Option<String>,
    pub agent_type: Option<String>,
    pub labels: Option<Vec<String>>,
    pub tenant_id: Option<TenantId>,
}

fn text(field: &'static str, raw: Option<String>, default: &str) -> Result<String, AppError> {
    let value = raw.map(|s| s.trim().to_string()).unwrap_or_default();
    let value = if value.is_empty() {
        default.to_string()
    } else {
        value
    };
    if value.chars().count() > MAX_NAME_CHARS || value.chars().any(char::is_control) {
        return Err(AppError::invalid(
            field,
            format!("must be at most {MAX_NAME_CHARS} characters, without control characters"),
        ));
    }
    Ok(value)
}

fn labels_json(labels: Option<Vec<String>>) -> Result<String, AppError> {
    let labels = labels.unwrap_or_default();
    if labels.len() > MAX_LABELS {
        return Err(AppError::invalid(
            "labels",
            format!("at most {MAX_LABELS} labels"),
        ));
    }
    if labels
        .iter()
        .any(|l| l.chars().count() > MAX_LABEL_CHARS || l.chars().any(char::is_control))
    {
        return Err(AppError::invalid(
            "labels",
            format!("each label must be at most {MAX_LABEL_CHARS} characters, without control characters"),
        ));
    }
    serde_json::to_string(&labels).map_err(AppError::internal)
}

/// The labels as stored (a JSON array), for display.
pub fn labels_of(agent: &Agent) -> Vec<String> {
    serde_json::from_str(&agent.labels).unwrap_or_default()
}

fn principal(actor: &Actor) -> Result<&Principal, AppError> {
    match &actor.kind {
        ActorKind::ApiKey(p) => Ok(p),
        _ => Err(AppError::forbidden(
            "agents register and poll with an API key, not a browser session",
        )),
    }
}

/// A `tenant_id` argument must name the key's tenant (FORBIDDEN otherwise).
fn check_tenant(
    conn: &mut DbConnection,
    actor: &Actor,
    tenant_id: Option<&TenantId>,
) -> Result<TenantId, AppError> {
    let p = principal(actor)?;
    let tenant_id = tenant_id.unwrap_or(&p.tenant_id).clone();
    permissions::require(conn, actor, &tenant_id, Permission::UseOwnKeys)?;
    Ok(tenant_id)
}

/// Records the agent (or, when the key already registered one of that name and type,
/// sees it again) and returns it.
pub fn register_agent(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    input: AgentRegistration,
) -> Result<Agent, AppError> {
    let name = text("name", input.name, "agent")?;
    let agent_type = text("type", input.agent_type, "Agent")?;
    let labels = labels_json(input.labels)?;
    // Registering writes a row: a read-only key reads only (issue 14).
    permissions::require_writable(actor)?;
    transaction(conn, |conn| {
        let tenant_id = check_tenant(conn, actor, input.tenant_id.as_ref())?;
        let p = principal(actor)?;
        let key = ApiKey::find(conn, p.key_id().as_str())?
            .ok_or_else(|| AppError::unauthenticated(crate::services::auth::UNKNOWN_OR_REVOKED))?;
        let agent = match Agent::find_registered(conn, &key.id, &name, &agent_type)? {
            Some(mut agent) => {
                Agent::seen_again(conn, &agent.id, &labels, now)?;
                agent.labels = labels;
                agent.last_seen_at = now;
                agent
            }
            None => {
                let agent = Agent {
                    id: new_id(),
                    tenant_id: tenant_id.to_string(),
                    account_id: key.account_id.clone(),
                    api_key_id: key.id.clone(),
                    api_key_digest: key.token_digest.clone(),
                    name,
                    agent_type,
                    labels,
                    first_seen_at: now,
                    last_seen_at: now,
                };
                agent.insert(conn)?;
                agent
            }
        };
        let ids = Agent::ids_of_key_oldest_first(conn, &key.id)?;
        for id in ids
            .iter()
            .take(ids.len().saturating_sub(MAX_AGENTS_PER_KEY))
        {
            Agent::delete(conn, id)?;
        }
        Agent::delete_unseen_since(conn, tenant_id.as_str(), now - FORGOTTEN_AFTER)?;
        Ok(agent)
    })
}

/// A poll: marks the agent seen (at most once a minute) and answers no flow runs. An
/// agent id that is not one of this key's agents is ignored.
pub fn get_runs_in_queue(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    agent_id: Option<&AgentId>,
    tenant_id: Option<&TenantId>,
) -> Result<Vec<String>, AppError> {
    permissions::require_writable(actor)?;
    check_tenant(conn, actor, tenant_id)?;
    let key_id = principal(actor)?.key_id().to_string();
    if let Some(id) = agent_id {
        // Read first: a fresh agent takes no write lock at all.
        let due = Agent::find(conn, id.as_str())?.is_some_and(|a| {
            a.api_key_id == key_id && a.last_seen_at <= now - Duration::minutes(1)
        });
        if due {
            Agent::touch(conn, id.as_str(), &key_id, now)?;
        }
    }
    Ok(Vec::new())
}

/// Which agents the actor sees in a tenant: all of them for an admin, else those of the
/// actor's own keys.
fn visible(
    conn: &mut DbConnection,
    actor: &Actor,
    tenant_id: Option<&TenantId>,
) -> Result<AgentWhere, AppError> {
    let Some(tenant_id) = tenant_id.or(actor.bound_tenant()) else {
        return Err(AppError::invalid("tenant_id", "name the tenant"));
    };
    let access = permissions::access(conn, actor, tenant_id)?;
    let account_id = if access.is_admin() {
        None
    } else {
        actor.account_id().map(ToString::to_string)
    };
    Ok(AgentWhere {
        tenant_id: tenant_id.to_string(),
        account_id,
        ..AgentWhere::default()
    })
}

pub fn list_agents(
    conn: &mut DbConnection,
    actor: &Actor,
    tenant_id: Option<&TenantId>,
    limit: i64,
    offset: i64,
) -> Result<Vec<AgentListing>, AppError> {
    let w = visible(conn, actor, tenant_id)?;
    Ok(Agent::page(conn, &w, limit, offset)?)
}

pub fn count_agents(
    conn: &mut DbConnection,
    actor: &Actor,
    tenant_id: Option<&TenantId>,
) -> Result<i64, AppError> {
    let w = visible(conn, actor, tenant_id)?;
    Ok(Agent::count(conn, &w)?)
}

/// The first agents of a list and how many there are in all.
#[derive(Debug, Clone, Default)]
pub struct AgentSummary {
    pub agents: Vec<AgentListing>,
    pub total: i64,
}

fn summary(conn: &mut DbConnection, w: &AgentWhere, first: i64) -> Result<AgentSummary, AppError> {
    Ok(AgentSummary {
        agents: Agent::page(conn, w, first, 0)?,
        total: Agent::count(conn, w)?,
    })
}

/// A service account's agents, most recently seen first; admins of its tenant.
pub fn agents_of_service_account(
    conn: &mut DbConnection,
    actor: &Actor,
    in_tenant: Option<&TenantId>,
    id: &AccountId,
    first: i64,
) -> Result<AgentSummary, AppError> {
    let account = service_accounts::find_managed(conn, actor, in_tenant, id)?;
    let w = AgentWhere {
        tenant_id: account.tenant_id.clone().unwrap_or_default(),
        account_id: Some(account.id),
        ..AgentWhere::default()
    };
    summary(conn, &w, first)
}

/// What depends on a key, for its revoke dialog: the agents and the clients that used it
/// in the last 24 hours. Empty for a key the actor may not revoke.
#[derive(Debug, Clone, Default)]
pub struct KeyDependents {
    pub agents: AgentSummary,
    pub clients: Vec<crate::db::models::api_key_client::KeyClient>,
}

pub fn dependents_of_key(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    key_id: &ApiKeyId,
    first: i64,
) -> Result<KeyDependents, AppError> {
    let Some(key) = ApiKey::find(conn, key_id.as_str())? else {
        return Ok(KeyDependents::default());
    };
    if !permissions::may_revoke_key(conn, actor, &key)? {
        return Ok(KeyDependents::default());
    }
    let since = now - RECENT;
    let w = AgentWhere {
        tenant_id: key.tenant_id.clone(),
        api_key_id: Some(key.id.clone()),
        seen_since: Some(since),
        ..AgentWhere::default()
    };
    let mut clients = super::key_clients::clients_of_keys(conn, std::slice::from_ref(&key.id))?
        .remove(&key.id)
        .unwrap_or_default();
    clients.retain(|c| c.last_seen_at >= since);
    Ok(KeyDependents {
        agents: summary(conn, &w, first)?,
        clients,
    })
}
