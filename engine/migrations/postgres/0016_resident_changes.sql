-- Corrections of a resident's record (AVG art. 16) keep the value they replace.
CREATE TABLE resident_changes (
    id          TEXT PRIMARY KEY,
    resident_id TEXT NOT NULL REFERENCES residents (id),
    at          TIMESTAMPTZ NOT NULL,
    by_user     TEXT NOT NULL,
    field       TEXT NOT NULL,
    -- The BSN's values are never kept here: only that it changed.
    old_value   TEXT,
    new_value   TEXT
);
CREATE INDEX resident_changes_by_resident ON resident_changes (resident_id, at);
