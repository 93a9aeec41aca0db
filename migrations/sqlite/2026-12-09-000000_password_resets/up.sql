-- Account recovery (issue 26): one-time password-reset links, mailed ("Forgot your
-- password?") or made by an admin on Team › Members. Stored by the SHA-256 of the link's
-- token, never the token. Opening the link (GET) consumes nothing: it stores the digest of
-- a second random value, the short-lived state the browser carries in an HttpOnly cookie
-- to the token-free reset page (one at a time: a newer opening replaces it). `epoch` is
-- the account's credential epoch when the link was made: a password change voids it.
CREATE TABLE password_resets (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    token_digest TEXT NOT NULL UNIQUE,
    epoch TEXT NOT NULL,
    created_by TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    state_digest TEXT UNIQUE,
    state_expires_at TIMESTAMP
);
CREATE INDEX password_resets_account ON password_resets (account_id);
CREATE INDEX password_resets_expires ON password_resets (expires_at);
