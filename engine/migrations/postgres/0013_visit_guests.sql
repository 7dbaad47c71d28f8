-- Joint visits invite people outside Doorloop: an intent may be addressed to the case's
-- resident (`resident`, resolved to the address on their record when it is sent).
ALTER TABLE outbox DROP CONSTRAINT outbox_recipient_type_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_recipient_type_check
    CHECK (recipient_type IN ('role', 'user', 'address', 'resident', 'webhook'));
