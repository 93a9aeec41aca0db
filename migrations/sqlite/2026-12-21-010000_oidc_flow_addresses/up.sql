-- The client address group (an IPv4 address, an IPv6 /64) that started a sign-in through
-- the provider: sign-ins in progress are limited per group (services::oidc::start).
ALTER TABLE oidc_flows ADD COLUMN client_group TEXT NOT NULL DEFAULT '';
CREATE INDEX oidc_flows_client_group ON oidc_flows (client_group, expires_at);
