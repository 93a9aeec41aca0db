-- Failed sign-ins are keyed on the SHA-256 of the normalised email, never the email
-- itself; they matter for minutes only, so the old rows are simply dropped.
DROP TABLE sign_in_failures;
CREATE TABLE sign_in_failures (
    id TEXT PRIMARY KEY NOT NULL,
    email_digest TEXT NOT NULL,
    ip TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX sign_in_failures_email_digest_ip_at ON sign_in_failures (email_digest, ip, at);
CREATE INDEX sign_in_failures_ip_at ON sign_in_failures (ip, at);
CREATE INDEX sign_in_failures_at ON sign_in_failures (at);
