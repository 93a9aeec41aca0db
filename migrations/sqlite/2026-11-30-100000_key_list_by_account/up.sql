-- A person's keys across tenants, newest first (User › API Keys): the page reads its 50
-- rows from this index in order, however many keys the account holds. It replaces
-- api_keys_account_id, which is its prefix.
CREATE INDEX api_keys_account_created ON api_keys (account_id, created_at, id);
DROP INDEX api_keys_account_id;
-- The keys of an account expiring soon (the dashboard's banner, expiring_api_keys),
-- without reading every key of the account.
CREATE INDEX api_keys_account_expires ON api_keys (account_id, expires_at);
