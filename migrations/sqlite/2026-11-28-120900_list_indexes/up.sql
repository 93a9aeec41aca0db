-- Keyset pages on (created_at, id) and the periodic clean-up, without scanning.
CREATE INDEX api_keys_account_tenant_created ON api_keys (account_id, tenant_id, created_at, id);
CREATE INDEX api_keys_tenant_created ON api_keys (tenant_id, created_at, id);
CREATE INDEX audit_events_tenant_at_id ON audit_events (tenant_id, at, id);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX invitations_tenant_pending ON invitations (tenant_id, used_at, expires_at);
CREATE INDEX invitations_expires_at ON invitations (expires_at);
CREATE INDEX sign_in_failures_at ON sign_in_failures (at);
