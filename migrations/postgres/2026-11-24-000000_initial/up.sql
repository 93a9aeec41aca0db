CREATE TABLE tenants (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE accounts (
    id TEXT PRIMARY KEY NOT NULL,
    account_type TEXT NOT NULL CHECK (account_type IN ('USER', 'SERVICE_ACCOUNT')),
    name TEXT NOT NULL,
    email TEXT UNIQUE,
    password_hash TEXT,
    tenant_id TEXT REFERENCES tenants (id),
    created_at TIMESTAMP NOT NULL,
    created_by TEXT,
    CHECK ((account_type = 'USER' AND email IS NOT NULL AND tenant_id IS NULL)
        OR (account_type = 'SERVICE_ACCOUNT' AND email IS NULL AND password_hash IS NULL AND tenant_id IS NOT NULL))
);
CREATE INDEX accounts_tenant_id ON accounts (tenant_id);

CREATE TABLE memberships (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    role TEXT NOT NULL CHECK (role IN ('ADMIN', 'USER', 'READ_ONLY_USER')),
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (account_id, tenant_id)
);
CREATE INDEX memberships_tenant_id ON memberships (tenant_id);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    name TEXT NOT NULL,
    token_digest TEXT NOT NULL UNIQUE,
    display_hint TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT,
    created_by_key_id TEXT,
    expires_at TIMESTAMP,
    last_used_at TIMESTAMP,
    last_used_ip TEXT
);
CREATE INDEX api_keys_account_id ON api_keys (account_id);
CREATE INDEX api_keys_tenant_id ON api_keys (tenant_id);

CREATE TABLE audit_events (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT,
    actor_id TEXT,
    actor_key_id TEXT,
    action TEXT NOT NULL,
    target_id TEXT,
    detail TEXT NOT NULL,
    ip TEXT,
    at TIMESTAMP NOT NULL
);
CREATE INDEX audit_events_tenant_at ON audit_events (tenant_id, at);

CREATE TABLE sessions (
    id_digest TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    csrf_token TEXT NOT NULL,
    tenant_id TEXT,
    state TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX sessions_account_id ON sessions (account_id);

CREATE TABLE invitations (
    id TEXT PRIMARY KEY NOT NULL,
    token_digest TEXT NOT NULL UNIQUE,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    role TEXT NOT NULL CHECK (role IN ('ADMIN', 'USER', 'READ_ONLY_USER')),
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP,
    used_by TEXT
);
CREATE INDEX invitations_tenant_id ON invitations (tenant_id);

CREATE TABLE sign_in_failures (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL,
    ip TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX sign_in_failures_email_ip_at ON sign_in_failures (email, ip, at);

CREATE TABLE setup_tokens (
    token_digest TEXT PRIMARY KEY NOT NULL,
    created_at TIMESTAMP NOT NULL
);
