DROP TABLE webhook_attempts;
DROP TABLE webhook_messages;
DROP TABLE webhook_endpoints;
DROP TABLE notification_opt_outs;
DROP TABLE key_reminders;
