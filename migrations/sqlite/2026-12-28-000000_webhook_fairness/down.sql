ALTER TABLE webhook_endpoints DROP COLUMN last_served_at;
