DROP TABLE tenant_sso_requirements;
