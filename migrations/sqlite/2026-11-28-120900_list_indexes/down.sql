DROP INDEX IF EXISTS sign_in_failures_at;
DROP INDEX invitations_expires_at;
DROP INDEX invitations_tenant_pending;
DROP INDEX sessions_expires_at;
DROP INDEX audit_events_at;
DROP INDEX audit_events_tenant_at_id;
DROP INDEX api_keys_tenant_created;
DROP INDEX api_keys_account_tenant_created;
