-- Provisions (voorzieningen) per resident: one current record per kind, and every change.

CREATE TABLE provisions (
    resident_id     TEXT NOT NULL REFERENCES residents (id),
    kind            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('aangevraagd', 'actief', 'slapend', 'beeindigd')),
    start_date      TEXT,
    end_date        TEXT,
    dormant_until   TEXT,
    decision_date   TEXT,
    decision_ref    TEXT,
    decided_by      TEXT,
    case_id         TEXT,
    -- The case opened because the provision is about to end (once per end date).
    expiry_case_id  TEXT,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (resident_id, kind)
);
CREATE INDEX provisions_ending ON provisions (end_date) WHERE status IN ('actief', 'slapend') AND expiry_case_id IS NULL;

CREATE TABLE provision_changes (
    key           TEXT PRIMARY KEY,
    resident_id   TEXT NOT NULL REFERENCES residents (id),
    kind          TEXT NOT NULL,
    status        TEXT NOT NULL,
    start_date    TEXT,
    end_date      TEXT,
    dormant_until TEXT,
    decision_date TEXT,
    decision_ref  TEXT,
    by_user       TEXT NOT NULL,
    case_id       TEXT,
    at            TEXT NOT NULL
);
CREATE INDEX provision_changes_by_resident ON provision_changes (resident_id, at);

-- Who registered a resident: until a case exists, only they (and managers) find them.
ALTER TABLE residents ADD COLUMN created_by TEXT;
