DROP INDEX api_keys_account_expires;
CREATE INDEX api_keys_account_id ON api_keys (account_id);
DROP INDEX api_keys_account_created;
