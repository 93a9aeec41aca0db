-- Prefect 1.x agents that registered with a key, and the clients seen per key.
-- An agent row outlives its key (no foreign key to api_keys): it is listed as
-- KEY_REVOKED and explains the refusal its next poll gets. It goes with its tenant.
CREATE TABLE agents (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL,
    api_key_id TEXT NOT NULL,
    api_key_digest TEXT NOT NULL,
    name TEXT NOT NULL,
    agent_type TEXT NOT NULL,
    labels TEXT NOT NULL,
    first_seen_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL
);
CREATE INDEX agents_tenant_seen ON agents (tenant_id, last_seen_at, id);
CREATE INDEX agents_api_key_id ON agents (api_key_id, last_seen_at);
CREATE INDEX agents_api_key_digest ON agents (api_key_digest);
CREATE INDEX agents_last_seen ON agents (last_seen_at);

-- At most a few per key (the oldest seen is replaced); they go with their key.
CREATE TABLE api_key_clients (
    api_key_id TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    user_agent TEXT NOT NULL,
    ip TEXT NOT NULL,
    first_seen_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    PRIMARY KEY (api_key_id, user_agent, ip)
);

-- Why a key stopped working: its audit events, by key or account.
CREATE INDEX audit_events_target ON audit_events (target_id, action);
