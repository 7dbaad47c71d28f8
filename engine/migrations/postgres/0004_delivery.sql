-- Delivery of the outbox (notifiers); see the SQLite migration of the same name.
ALTER TABLE outbox ADD COLUMN id BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE;
ALTER TABLE outbox ADD COLUMN parent TEXT;
ALTER TABLE outbox ADD COLUMN channel TEXT CHECK (channel IN ('email', 'webhook', 'log'));
ALTER TABLE outbox ADD COLUMN payload JSONB;
ALTER TABLE outbox ADD COLUMN lease_owner TEXT;
ALTER TABLE outbox ADD COLUMN lease_until TIMESTAMPTZ;
ALTER TABLE outbox ADD COLUMN message_id TEXT;
ALTER TABLE outbox ADD COLUMN sent_at TIMESTAMPTZ;
ALTER TABLE outbox DROP CONSTRAINT outbox_status_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_status_check
    CHECK (status IN ('pending', 'sending', 'sent', 'dead', 'expanded'));
ALTER TABLE outbox DROP CONSTRAINT outbox_recipient_type_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_recipient_type_check
    CHECK (recipient_type IN ('role', 'user', 'address', 'webhook'));
CREATE INDEX outbox_inflight ON outbox (lease_until) WHERE status = 'sending';
CREATE INDEX outbox_by_status ON outbox (status, id);
