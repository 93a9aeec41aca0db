-- Two-factor sign-in (issue 27). An account's authenticator secret, sealed (AES-256-GCM
-- under a key derived from the server secret; `key_version` names that key so the server
-- secret can be rotated). `enabled_at` NULL: an enrolment not yet confirmed by a code.
-- `last_step`: the last accepted RFC 6238 time step; a code at or before it is refused
-- in the same UPDATE that would accept it (RFC 6238 §5.2).
CREATE TABLE two_factor (
    account_id TEXT PRIMARY KEY NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    secret_sealed TEXT NOT NULL,
    key_version TEXT NOT NULL,
    last_step BIGINT NOT NULL DEFAULT -1,
    created_at TIMESTAMP NOT NULL,
    enabled_at TIMESTAMP,
    last_used_at TIMESTAMP
);
-- Recovery codes: keyed digests only (HMAC-SHA256 under a derived key), each used once.
CREATE TABLE two_factor_recovery_codes (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    code_digest TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX two_factor_recovery_codes_account ON two_factor_recovery_codes (account_id, code_digest);
-- A password accepted for an account with two-factor on: not a session; the browser
-- holds the token (its SHA-256 is the key here) for five minutes, for the code step.
CREATE TABLE pending_sign_ins (
    id_digest TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    next TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX pending_sign_ins_account ON pending_sign_ins (account_id, created_at);
CREATE INDEX pending_sign_ins_expires_at ON pending_sign_ins (expires_at);
-- Tenants whose members must have two-factor on to use the dashboard (a row: required).
CREATE TABLE tenant_two_factor_requirements (
    tenant_id TEXT PRIMARY KEY NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    required_since TIMESTAMP NOT NULL
);
