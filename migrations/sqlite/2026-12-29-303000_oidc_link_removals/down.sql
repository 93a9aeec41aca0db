DROP TABLE oidc_link_removals;
