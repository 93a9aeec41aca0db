-- Tenants that require single sign-on of their members (issue 30; a row: required).
-- Their members sign in through the OpenID provider only, and such sessions last at
-- most --oidc-session-hours.
CREATE TABLE tenant_sso_requirements (
    tenant_id TEXT PRIMARY KEY NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    required_since TIMESTAMP NOT NULL
);
