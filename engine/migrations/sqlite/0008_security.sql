-- Fixes from the security probe.

-- Sessions were stored under their cookie id; from now on only its SHA-256 is kept.
-- Every session from before is ended (users log in again).
DELETE FROM sessions;
-- Whose session it is, so that a new password ends every session of that account.
ALTER TABLE sessions ADD COLUMN user_id TEXT GENERATED ALWAYS AS (json_extract(data, '$.data.user')) VIRTUAL;
CREATE INDEX sessions_by_user ON sessions (user_id);

-- API tokens expire and can be revoked; a new password revokes them all.
ALTER TABLE api_tokens ADD COLUMN expires_at TEXT;
ALTER TABLE api_tokens ADD COLUMN revoked_at TEXT;

-- Consultants invited to a joint visit find its case in their lists.
CREATE TABLE visit_participants (
    user_id TEXT NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases (id),
    task_id TEXT NOT NULL,
    PRIMARY KEY (user_id, case_id, task_id)
) WITHOUT ROWID;

CREATE TRIGGER events_visit_participants AFTER INSERT ON events
WHEN NEW.payload LIKE '%"visit_planned"%'
BEGIN
    INSERT OR IGNORE INTO visit_participants (user_id, case_id, task_id)
    SELECT p.value, NEW.case_id, json_extract(e.value, '$.task')
    FROM json_each(NEW.payload) e, json_each(json_extract(e.value, '$.visit.participants')) p
    WHERE json_extract(e.value, '$.type') = 'visit_planned';
END;

INSERT OR IGNORE INTO visit_participants (user_id, case_id, task_id)
SELECT p.value, ev.case_id, json_extract(e.value, '$.task')
FROM events ev, json_each(ev.payload) e, json_each(json_extract(e.value, '$.visit.participants')) p
WHERE ev.payload LIKE '%"visit_planned"%' AND json_extract(e.value, '$.type') = 'visit_planned';
