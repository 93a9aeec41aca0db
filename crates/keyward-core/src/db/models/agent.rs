//! Prefect 1.x agents that registered with a key (see `services::agents`). A row outlives
//! its key, so a list can say "key revoked" and a refused poll can say why.

use crate::db::schema::{agents, api_keys};
use crate::db::DbConnection;
use diesel::prelude::*;
use time::PrimitiveDateTime;

/// A registered agent. `api_key_digest` is the SHA-256 the key is stored under, kept to
/// recognise the key's token after the key itself is gone; never the token.
#[derive(Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = agents)]
pub struct Agent {
    pub id: String,
    pub tenant_id: String,
    pub account_id: String,
    pub api_key_id: String,
    pub api_key_digest: String,
    pub name: String,
    pub agent_type: String,
    /// A JSON array of strings.
    pub labels: String,
    pub first_seen_at: PrimitiveDateTime,
    pub last_seen_at: PrimitiveDateTime,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("api_key_id", &self.api_key_id)
            .field("name", &self.name)
            .field("last_seen_at", &self.last_seen_at)
            .finish_non_exhaustive()
    }
}

/// An agent with the name of its key, `None` once the key is gone.
#[derive(Debug, Clone)]
pub struct AgentListing {
    pub agent: Agent,
    pub key_name: Option<String>,
}

/// Which agents a list shows: all conditions given must hold.
#[derive(Debug, Clone, Default)]
pub struct AgentWhere {
    pub tenant_id: String,
    /// Only agents that authenticated with keys of these accounts.
    pub account_id: Option<String>,
    pub api_key_id: Option<String>,
    pub seen_since: Option<PrimitiveDateTime>,
}

type Listed = (Agent, Option<String>);
type Db = <DbConnection as Connection>::Backend;
type Joined = diesel::dsl::LeftJoinOn<
    agents::table,
    api_keys::table,
    diesel::dsl::Eq<api_keys::id, agents::api_key_id>,
>;
type Boxed<'a> = diesel::dsl::IntoBoxed<'a, Joined, Db>;

impl Agent {
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::insert_into(agents::table)
            .values(self)
            .execute(conn)
            .map(drop)
    }

    pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Agent>> {
        agents::table
            .find(id)
            .select(Agent::as_select())
            .first(conn)
            .optional()
    }

    /// The agent a key already registered under this name and type, if any.
    pub fn find_registered(
        conn: &mut DbConnection,
        api_key_id: &str,
        name: &str,
        agent_type: &str,
    ) -> QueryResult<Option<Agent>> {
        agents::table
            .filter(agents::api_key_id.eq(api_key_id))
            .filter(agents::name.eq(name))
            .filter(agents::agent_type.eq(agent_type))
            .select(Agent::as_select())
            .first(conn)
            .optional()
    }

    /// The newest-seen agent that authenticated with the key stored under `digest`.
    pub fn by_key_digest(conn: &mut DbConnection, digest: &str) -> QueryResult<Option<Agent>> {
        agents::table
            .filter(agents::api_key_digest.eq(digest))
            .order(agents::last_seen_at.desc())
            .select(Agent::as_select())
            .first(conn)
            .optional()
    }

    /// A registration again: new labels, seen now.
    pub fn seen_again(
        conn: &mut DbConnection,
        id: &str,
        labels: &str,
        now: PrimitiveDateTime,
    ) -> QueryResult<usize> {
        diesel::update(agents::table.find(id))
            .set((agents::labels.eq(labels), agents::last_seen_at.eq(now)))
            .execute(conn)
    }

    /// Records a poll unless one was recorded within the minute (like `ApiKey::touch`).
    pub fn touch(
        conn: &mut DbConnection,
        id: &str,
        api_key_id: &str,
        now: PrimitiveDateTime,
    ) -> QueryResult<usize> {
        let stale_before = now - time::Duration::minutes(1);
        diesel::update(
            agents::table
                .find(id)
                .filter(agents::api_key_id.eq(api_key_id))
                .filter(agents::last_seen_at.le(stale_before)),
        )
        .set(agents::last_seen_at.eq(now))
        .execute(conn)
    }

    /// The key's agents, least recently seen first.
    pub fn ids_of_key_oldest_first(
        conn: &mut DbConnection,
        api_key_id: &str,
    ) -> QueryResult<Vec<String>> {
        agents::table
            .filter(agents::api_key_id.eq(api_key_id))
            .order((agents::last_seen_at.asc(), agents::id.asc()))
            .select(agents::id)
            .load(conn)
    }

    pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<usize> {
        diesel::delete(agents::table.find(id)).execute(conn)
    }

    /// Forgets the tenant's agents not seen since `before`.
    pub fn delete_unseen_since(
        conn: &mut DbConnection,
        tenant_id: &str,
        before: PrimitiveDateTime,
    ) -> QueryResult<usize> {
        diesel::delete(
            agents::table
                .filter(agents::tenant_id.eq(tenant_id))
                .filter(agents::last_seen_at.lt(before)),
        )
        .execute(conn)
    }

    /// Forgets every agent not seen since `before` (the periodic clean-up).
    pub fn delete_all_unseen_since(
        conn: &mut DbConnection,
        before: PrimitiveDateTime,
    ) -> QueryResult<usize> {
        diesel::delete(agents::table.filter(agents::last_seen_at.lt(before))).execute(conn)
    }

    fn listed(w: &AgentWhere) -> Boxed<'static> {
        let mut query: Boxed<'static> = agents::table
            .left_join(api_keys::table.on(api_keys::id.eq(agents::api_key_id)))
            .into_boxed();
        query = query.filter(agents::tenant_id.eq(w.tenant_id.clone()));
        if let Some(a) = &w.account_id {
            query = query.filter(agents::account_id.eq(a.clone()));
        }
        if let Some(k) = &w.api_key_id {
            query = query.filter(agents::api_key_id.eq(k.clone()));
        }
        if let Some(t) = w.seen_since {
            query = query.filter(agents::last_seen_at.ge(t));
        }
        query
    }

    /// A page of agents, most recently seen first, with their keys' names.
    pub fn page(
        conn: &mut DbConnection,
        w: &AgentWhere,
        limit: i64,
        offset: i64,
    ) -> QueryResult<Vec<AgentListing>> {
        let rows: Vec<Listed> = Self::listed(w)
            .select((Agent::as_select(), api_keys::name.nullable()))
            .order((agents::last_seen_at.desc(), agents::id.desc()))
            .limit(limit)
            .offset(offset)
            .load(conn)?;
        Ok(rows
            .into_iter()
            .map(|(agent, key_name)| AgentListing { agent, key_name })
            .collect())
    }

    pub fn count(conn: &mut DbConnection, w: &AgentWhere) -> QueryResult<i64> {
        Self::listed(w).count().get_result(conn)
    }
}

/// When the newest audit event of `action` on `target_id` happened, if one is kept.
pub fn audit_time(
    conn: &mut DbConnection,
    target_id: &str,
    action: crate::domain::AuditAction,
) -> QueryResult<Option<PrimitiveDateTime>> {
    use crate::db::schema::audit_events;
    audit_events::table
        .filter(audit_events::target_id.eq(target_id))
        .filter(audit_events::action.eq(action.as_str()))
        .order(audit_events::at.desc())
        .select(audit_events::at)
        .first(conn)
        .optional()
}
