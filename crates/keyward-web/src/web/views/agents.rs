//! Agents and key clients on the dashboard: a service account's agents, and what
//! depends on a key in its revoke dialog.

use super::{date_time, relative};
use crate::db::models::agent::AgentListing;
use crate::db::models::api_key_client::KeyClient;
use crate::services::agents::{self, AgentStatus, AgentSummary, KeyDependents};
use crate::services::key_lists::KeysetPage;
use time::PrimitiveDateTime;

#[derive(Debug, Clone)]
pub struct AgentRow {
    pub id: String,
    pub name: String,
    pub agent_type: String,
    pub labels: String,
    /// The key's name, or "revoked key".
    pub key_name: String,
    pub status: &'static str,
    pub revoked: bool,
    pub last_seen: String,
    pub last_seen_at: String,
}

impl AgentRow {
    pub fn of(l: &AgentListing, now: PrimitiveDateTime) -> Self {
        let status = AgentStatus::of(l, now);
        AgentRow {
            id: l.agent.id.clone(),
            name: l.agent.name.clone(),
            agent_type: l.agent.agent_type.clone(),
            labels: agents::labels_of(&l.agent).join(", "),
            key_name: l
                .key_name
                .clone()
                .unwrap_or_else(|| "revoked key".to_string()),
            status: status.label(),
            revoked: status == AgentStatus::KeyRevoked,
            last_seen: relative(l.agent.last_seen_at, now),
            last_seen_at: date_time(l.agent.last_seen_at),
        }
    }
}

/// The first agents of a list, and how many more there are.
#[derive(Debug, Clone, Default)]
pub struct AgentsView {
    pub rows: Vec<AgentRow>,
    pub total: i64,
    pub more: i64,
}

impl AgentsView {
    pub fn of(s: &AgentSummary, now: PrimitiveDateTime) -> Self {
        let rows: Vec<AgentRow> = s.agents.iter().map(|l| AgentRow::of(l, now)).collect();
        AgentsView {
            more: s.total - rows.len() as i64,
            total: s.total,
            rows,
        }
    }
}

/// What the revoke dialog says depends on a key.
#[derive(Debug, Clone, Default)]
pub struct KeyDependentsView {
    /// "2 agents used this key in the last 24 hours: build-agent (last seen 1 minute
    /// ago), …"; empty when none did.
    pub agents_sentence: String,
    /// "python-requests 2.31 from 10.0.0.7, last seen 3 minutes ago".
    pub clients: Vec<ClientLine>,
}

impl KeyDependentsView {
    pub fn of(d: &KeyDependents, now: PrimitiveDateTime) -> Self {
        let s = &d.agents;
        let agents_sentence = if s.total == 0 {
            String::new()
        } else {
            let named: Vec<String> = s
                .agents
                .iter()
                .map(|l| {
                    format!(
                        "{} (last seen {})",
                        l.agent.name,
                        relative(l.agent.last_seen_at, now)
                    )
                })
                .collect();
            let rest = s.total - named.len() as i64;
            let tail = if rest > 0 {
                format!(" and {rest} more")
            } else {
                String::new()
            };
            format!(
                "{} agent{} used this key in the last 24 hours: {}{tail}.",
                s.total,
                if s.total == 1 { "" } else { "s" },
                named.join(", ")
            )
        };
        KeyDependentsView {
            agents_sentence,
            clients: d.clients.iter().map(|c| client_line(c, now)).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.agents_sentence.is_empty() && self.clients.is_empty()
    }
}

/// One client seen using a key, as a line of the key table or the revoke dialog: a short
/// client name ("Chrome on Linux", see `domain::client_name`), where from and when; the
/// whole user agent is its tooltip.
#[derive(Debug, Clone)]
pub struct ClientLine {
    /// "curl 7.88 from 10.0.0.7, last seen 3 minutes ago".
    pub text: String,
    /// The user agent as the client sent it (already trimmed and capped when stored).
    pub user_agent: String,
}

impl std::fmt::Display for ClientLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

pub fn client_line(c: &KeyClient, now: PrimitiveDateTime) -> ClientLine {
    let from = if c.ip.is_empty() {
        String::new()
    } else {
        format!(" from {}", c.ip)
    };
    ClientLine {
        text: format!(
            "{}{from}, last seen {}",
            crate::domain::client_name(&c.user_agent),
            relative(c.last_seen_at, now)
        ),
        user_agent: c.user_agent.clone(),
    }
}

impl super::KeyRow {
    /// The rows of a key page, each with the clients seen using it.
    pub fn list_with_clients(page: &KeysetPage, now: PrimitiveDateTime) -> Vec<super::KeyRow> {
        let mut rows = super::KeyRow::list(&page.rows, now);
        for row in &mut rows {
            if let Some(clients) = page.clients.get(row.id.as_str()) {
                row.clients = clients.iter().map(|c| client_line(c, now)).collect();
            }
        }
        rows
    }
}
