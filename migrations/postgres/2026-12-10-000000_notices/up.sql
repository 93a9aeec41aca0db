-- Key notices by mail (issue 28). The reminders sent: one row per key and kind
-- (`expires_in_7_days`, `expires_in_1_day`), inserted in the transaction that queues the
-- mail, so that of several instances exactly one sends each reminder, once.
CREATE TABLE key_reminders (
    api_key_id TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    sent_at TIMESTAMP NOT NULL,
    PRIMARY KEY (api_key_id, kind)
);
-- The notices a person turned off for themselves (a row: off).
CREATE TABLE notification_opt_outs (
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    since TIMESTAMP NOT NULL,
    PRIMARY KEY (account_id, kind)
);
-- Webhooks per tenant (issue 28). The signing secret is sealed like a two-factor secret
-- (AES-256-GCM under a key derived from the server secret, `key_version` naming it);
-- after a rotation the previous one signs too until `previous_until`. `busy_until`: the
-- end of the lease of the one attempt in flight to this endpoint. `failures`: deliveries
-- given up in a row; at `webhooks::DISABLE_AFTER` the endpoint is disabled.
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    secret_sealed TEXT NOT NULL,
    key_version TEXT NOT NULL,
    previous_secret_sealed TEXT,
    previous_key_version TEXT,
    previous_until TIMESTAMP,
    enabled BOOLEAN NOT NULL,
    disabled_reason TEXT,
    failures INTEGER NOT NULL DEFAULT 0,
    busy_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id);
-- One event for one endpoint: its `id` is the `webhook-id` of every attempt (and of a
-- redelivery); `body` is what is signed and sent (no secret in it).
CREATE TABLE webhook_messages (
    id TEXT PRIMARY KEY NOT NULL,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_messages_endpoint ON webhook_messages (endpoint_id, created_at);
-- Each attempt, for the delivery log: the answer's status (NULL: none) and how long it took.
CREATE TABLE webhook_attempts (
    id TEXT PRIMARY KEY NOT NULL,
    message_id TEXT NOT NULL REFERENCES webhook_messages (id) ON DELETE CASCADE,
    endpoint_id TEXT NOT NULL,
    attempted_at TIMESTAMP NOT NULL,
    status_code INTEGER,
    duration_ms INTEGER NOT NULL,
    error TEXT
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, attempted_at);
CREATE INDEX webhook_attempts_message ON webhook_attempts (message_id);
