-- Every order of auth_api_key reads its page from an index, however many keys the account
-- holds in the tenant (issue 23): by name (which also answers `name: {_eq: …}`), by
-- expiry and by last use; newest first is api_keys_account_tenant_created.
CREATE INDEX api_keys_account_tenant_name ON api_keys (account_id, tenant_id, name, id);
CREATE INDEX api_keys_account_tenant_expires ON api_keys (account_id, tenant_id, expires_at, id);
CREATE INDEX api_keys_account_tenant_used ON api_keys (account_id, tenant_id, last_used_at, id);
