-- Keyset pages of the team lists, newest first: service accounts, members, invitations.
CREATE INDEX accounts_tenant_type_created ON accounts (tenant_id, account_type, created_at, id);
CREATE INDEX memberships_tenant_created ON memberships (tenant_id, created_at, account_id);
CREATE INDEX invitations_tenant_created ON invitations (tenant_id, created_at, id);
