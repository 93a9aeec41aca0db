-- Invitations by mail: the address a mailed invitation is bound to (NULL: a link for
-- whoever holds it). An account made through it takes this address; an existing account
-- must have it.
ALTER TABLE invitations ADD COLUMN email TEXT;
-- The one outbox (docs/MAIL.md): mails today, webhook deliveries later (`kind`). A row is
-- written in the transaction that causes it and sent by a worker of any instance.
-- `payload` (a mail's body, which may carry a one-time link) is kept only until the row
-- is sent or given up, then emptied. A claimed row's `next_attempt_at` is the end of the
-- claim's lease, `claim` the claimant's random id: a claim of an instance that died
-- expires by itself.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    tenant_id TEXT,
    about_id TEXT,
    recipient TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    claim TEXT,
    last_attempt_at TIMESTAMP,
    last_error TEXT,
    done_at TIMESTAMP
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_tenant ON outbox (tenant_id, last_attempt_at);
CREATE INDEX outbox_about ON outbox (about_id);
CREATE INDEX outbox_done ON outbox (done_at);
