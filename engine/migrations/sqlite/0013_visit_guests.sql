-- Joint visits invite people outside Doorloop: an intent may be addressed to the case's
-- resident (`resident`, resolved to the address on their record when it is sent). The table
-- is rebuilt because SQLite cannot change a CHECK constraint in place; every row and id is kept.
CREATE TABLE outbox_new (
    id              INTEGER PRIMARY KEY,
    key             TEXT NOT NULL UNIQUE,
    parent          TEXT,
    case_id         TEXT REFERENCES cases (id),
    task_id         TEXT,
    kind            TEXT NOT NULL,
    recipient_type  TEXT NOT NULL CHECK (recipient_type IN ('role', 'user', 'address', 'resident', 'webhook')),
    recipient       TEXT NOT NULL,
    channel         TEXT CHECK (channel IN ('email', 'webhook', 'log')),
    payload         TEXT,
    created_at      TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'dead', 'expanded')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    lease_owner     TEXT,
    lease_until     TEXT,
    message_id      TEXT,
    sent_at         TEXT,
    last_error      TEXT
);
INSERT INTO outbox_new (id, key, parent, case_id, task_id, kind, recipient_type, recipient, channel, payload,
                        created_at, status, attempts, next_attempt_at, lease_owner, lease_until, message_id,
                        sent_at, last_error)
    SELECT id, key, parent, case_id, task_id, kind, recipient_type, recipient, channel, payload,
           created_at, status, attempts, next_attempt_at, lease_owner, lease_until, message_id,
           sent_at, last_error
    FROM outbox ORDER BY id;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_inflight ON outbox (lease_until) WHERE status = 'sending';
CREATE INDEX outbox_by_case ON outbox (case_id);
CREATE INDEX outbox_by_status ON outbox (status, id);
