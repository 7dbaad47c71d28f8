-- Delivery of the outbox (notifiers). The table is rebuilt because SQLite cannot change a
-- CHECK constraint in place: rows get a short numeric id for the admin, a payload, a
-- channel, a lease for the delivering worker and the Message-ID recorded before sending.
--
-- Two kinds of row share the table:
-- * intents (channel IS NULL), written by the engine beside a state change or by a schedule:
--   addressed to a role, a user or an address. A worker expands an intent into deliveries
--   and marks it `expanded` in the same transaction.
-- * deliveries (channel = 'email' | 'webhook' | 'log'): one message to one recipient, with
--   the whitelisted data to render it frozen in `payload`.
CREATE TABLE outbox_new (
    id              INTEGER PRIMARY KEY,
    key             TEXT NOT NULL UNIQUE,   -- idempotency key
    parent          TEXT,                   -- the intent a delivery came from
    case_id         TEXT REFERENCES cases (id),
    task_id         TEXT,
    kind            TEXT NOT NULL,
    recipient_type  TEXT NOT NULL CHECK (recipient_type IN ('role', 'user', 'address', 'webhook')),
    recipient       TEXT NOT NULL,
    channel         TEXT CHECK (channel IN ('email', 'webhook', 'log')),
    payload         TEXT,                   -- JSON
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
INSERT INTO outbox_new (key, case_id, task_id, kind, recipient_type, recipient, created_at, status, attempts,
                        next_attempt_at, last_error)
    SELECT key, case_id, task_id, kind, recipient_type, recipient, created_at,
           iif(status = 'sending', 'pending', status), attempts, next_attempt_at, last_error
    FROM outbox ORDER BY created_at, key;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_inflight ON outbox (lease_until) WHERE status = 'sending';
CREATE INDEX outbox_by_case ON outbox (case_id);
CREATE INDEX outbox_by_status ON outbox (status, id);
