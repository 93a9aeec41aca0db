DROP TABLE throttle_notices;
DROP INDEX sign_in_failures_device_at;
DROP INDEX sign_in_failures_account;
ALTER TABLE sign_in_failures DROP COLUMN device;
ALTER TABLE sign_in_failures DROP COLUMN purpose;
