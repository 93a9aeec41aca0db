ALTER TABLE api_keys DROP COLUMN ip_refusal_audited_at;
ALTER TABLE api_keys DROP COLUMN allowed_ips;
