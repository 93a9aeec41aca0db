-- The name of the key an event came through, as it was then: the audit log names a key
-- deleted since by its name, not a bare id (issue 31 point 11). NULL: no key, or an
-- event written before this column.
ALTER TABLE audit_events ADD COLUMN actor_key_name TEXT;
