DROP TABLE outbox;
ALTER TABLE invitations DROP COLUMN email;
