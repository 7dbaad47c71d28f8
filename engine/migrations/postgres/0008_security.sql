-- Fixes from the security probe.

-- Sessions were stored under their cookie id; from now on only its SHA-256 is kept.
-- Every session from before is ended (users log in again).
DELETE FROM sessions;
-- Whose session it is, so that a new password ends every session of that account.
ALTER TABLE sessions ADD COLUMN user_id TEXT GENERATED ALWAYS AS ((data::jsonb) -> 'data' ->> 'user') STORED;
CREATE INDEX sessions_by_user ON sessions (user_id);

-- API tokens expire and can be revoked; a new password revokes them all.
ALTER TABLE api_tokens ADD COLUMN expires_at TIMESTAMPTZ;
ALTER TABLE api_tokens ADD COLUMN revoked_at TIMESTAMPTZ;

-- Consultants invited to a joint visit find its case in their lists.
CREATE TABLE visit_participants (
    user_id TEXT NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases (id),
    task_id TEXT NOT NULL,
    PRIMARY KEY (user_id, case_id, task_id)
);

CREATE FUNCTION events_visit_participants() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO visit_participants (user_id, case_id, task_id)
    SELECT p.value, NEW.case_id, e.value ->> 'task'
    FROM jsonb_array_elements(NEW.payload) e, jsonb_array_elements_text(e.value -> 'visit' -> 'participants') p
    WHERE e.value ->> 'type' = 'visit_planned'
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER events_visit_participants AFTER INSERT ON events
FOR EACH ROW WHEN (NEW.payload @> '[{"type": "visit_planned"}]')
EXECUTE FUNCTION events_visit_participants();

INSERT INTO visit_participants (user_id, case_id, task_id)
SELECT p.value, ev.case_id, e.value ->> 'task'
FROM events ev, jsonb_array_elements(ev.payload) e, jsonb_array_elements_text(e.value -> 'visit' -> 'participants') p
WHERE ev.payload @> '[{"type": "visit_planned"}]' AND e.value ->> 'type' = 'visit_planned'
ON CONFLICT DO NOTHING;
