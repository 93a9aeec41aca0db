DROP TABLE notification_opt_outs;
DROP TABLE key_reminders;
