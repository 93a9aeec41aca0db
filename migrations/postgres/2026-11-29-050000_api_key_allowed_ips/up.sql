-- A key's IP allow-list (comma-separated CIDR ranges; NULL = anywhere) and when a refusal
-- from elsewhere was last audited (at most once a minute per key).
ALTER TABLE api_keys ADD COLUMN allowed_ips TEXT;
ALTER TABLE api_keys ADD COLUMN ip_refusal_audited_at TIMESTAMP;
