-- An account whose identity provider link was removed (by its owner or an operator):
-- from then on an identity links to it only with the account's password (and a code
-- with two-factor on), never by a verified email alone, so whoever the link was removed
-- from does not get it back by signing in again. One row per account, kept while the
-- account lives.
CREATE TABLE oidc_link_removals (
    account_id TEXT PRIMARY KEY NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    removed_at TIMESTAMP NOT NULL
);
