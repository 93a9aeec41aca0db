DROP TABLE verified_emails;
DROP TABLE oidc_pending_links;
DROP TABLE oidc_identities;
DROP TABLE oidc_flows;
