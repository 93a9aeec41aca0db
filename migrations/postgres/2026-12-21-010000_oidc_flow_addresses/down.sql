DROP INDEX oidc_flows_client_group;
ALTER TABLE oidc_flows DROP COLUMN client_group;
