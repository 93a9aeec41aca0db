-- Key lifecycle (issue 14): read-only keys, rotation, what a key made, tenant key policy.
-- No unique index on key or service-account names: old databases may hold duplicates,
-- so uniqueness is checked in the creating transaction under the tenant's lock.
ALTER TABLE api_keys ADD COLUMN read_only BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE api_keys ADD COLUMN rotated_to_key_id TEXT;
ALTER TABLE accounts ADD COLUMN created_by_key_id TEXT;
CREATE INDEX api_keys_created_by_key_id ON api_keys (created_by_key_id);
CREATE INDEX accounts_created_by_key_id ON accounts (created_by_key_id);
CREATE INDEX api_keys_expires_at ON api_keys (tenant_id, expires_at);

CREATE TABLE tenant_key_policies (
    tenant_id TEXT PRIMARY KEY NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    max_key_lifetime_days INTEGER CHECK (max_key_lifetime_days > 0),
    require_expiry BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at TIMESTAMP NOT NULL
);
