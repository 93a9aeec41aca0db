DROP TABLE tenant_key_policies;
DROP INDEX api_keys_expires_at;
DROP INDEX accounts_created_by_key_id;
DROP INDEX api_keys_created_by_key_id;
ALTER TABLE accounts DROP COLUMN created_by_key_id;
ALTER TABLE api_keys DROP COLUMN rotated_to_key_id;
ALTER TABLE api_keys DROP COLUMN read_only;
