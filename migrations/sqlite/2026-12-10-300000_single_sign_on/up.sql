-- Single sign-on with OpenID Connect (issue 30).
--
-- A sign-in in progress: the `state`, `nonce` and PKCE verifier Keyward sent to the
-- provider, keyed by the SHA-256 of a random value the browser holds in a short-lived
-- HttpOnly cookie, so any instance can finish a sign-in another started. Taken (deleted)
-- by the one callback that finishes it; swept after `expires_at` (10 minutes).
CREATE TABLE oidc_flows (
    cookie_digest TEXT PRIMARY KEY NOT NULL,
    state TEXT NOT NULL,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    next_path TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX oidc_flows_expires ON oidc_flows (expires_at);

-- A person's identity at the provider: (issuer, sub), never the email once linked.
CREATE TABLE oidc_identities (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    last_sign_in_at TIMESTAMP NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX oidc_identities_account ON oidc_identities (account_id);
-- One identity per account and provider.
CREATE UNIQUE INDEX oidc_identities_one_per_account ON oidc_identities (issuer, account_id);

-- A first sign-in that matched an account whose email Keyward never verified: the link
-- waits (10 minutes) for the account's password, keyed like a flow.
CREATE TABLE oidc_pending_links (
    cookie_digest TEXT PRIMARY KEY NOT NULL,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    next_path TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX oidc_pending_links_expires ON oidc_pending_links (expires_at);

-- An address Keyward itself proved the account's owner receives mail at (a reset link
-- mailed to it was used). Only such an address lets a provider's same email link at the
-- first sign-in; a changed email no longer matches.
CREATE TABLE verified_emails (
    account_id TEXT PRIMARY KEY NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    verified_at TIMESTAMP NOT NULL
);
