-- Key notices by mail (issue 28). The reminders sent: one row per key and kind
-- (`expires_in_7_days`, `expires_in_1_day`), inserted in the transaction that queues the
-- mail, so that of several instances exactly one sends each reminder, once.
CREATE TABLE key_reminders (
    api_key_id TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    sent_at TIMESTAMP NOT NULL,
    PRIMARY KEY (api_key_id, kind)
);
-- The notices a person turned off for themselves (a row: off).
CREATE TABLE notification_opt_outs (
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    since TIMESTAMP NOT NULL,
    PRIMARY KEY (account_id, kind)
);
