-- When a deliverer last took the endpoint for an attempt (NULL: never): due deliveries
-- are picked endpoint by endpoint, the least recently served first, so every endpoint
-- with due deliveries gets a turn before any gets a second (no tenant's backlog holds
-- all the deliverers).
ALTER TABLE webhook_endpoints ADD COLUMN last_served_at TIMESTAMP;
