-- Guessing limits (docs/SECURITY.md): each counted attempt says what was guessed
-- (`purpose`: a password today) and, for a browser that signed in to the account
-- before, the SHA-256 of its device cookie's nonce (`device`; '' for any other client),
-- so the per-account limit counts new clients only and each device has its own.
-- `ip` holds the address's group: an IPv6 address's /64, an IPv4 address itself.
ALTER TABLE sign_in_failures ADD COLUMN purpose TEXT NOT NULL DEFAULT 'password';
ALTER TABLE sign_in_failures ADD COLUMN device TEXT NOT NULL DEFAULT '';
CREATE INDEX sign_in_failures_account ON sign_in_failures (email_digest, purpose, device, at);
CREATE INDEX sign_in_failures_device_at ON sign_in_failures (device, at);
-- One row per lock whose refusals were audited (the id digests the lock), so refused
-- attempts leave one audit event per window, not one each.
CREATE TABLE throttle_notices (
    id TEXT PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX throttle_notices_at ON throttle_notices (at);
