-- Retention: what was removed after its term (and by whom), and residents whose records are
-- held from removal (a legal hold: an objection, a court case, a complaint).

CREATE TABLE retention_log (
    id          TEXT PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL,
    action      TEXT NOT NULL CHECK (action IN ('zaak-verwijderd', 'inwoner-verwijderd',
                                                'bewaarplicht-aan', 'bewaarplicht-uit')),
    case_id     TEXT,
    resident_id TEXT,
    pathway_key TEXT,
    ended_at    TIMESTAMPTZ,
    term_years  BIGINT,
    by_user     TEXT NOT NULL,
    -- What was removed (counts) or why a hold was set: never a value from the records.
    detail      TEXT
);
CREATE INDEX retention_log_by_case ON retention_log (case_id) WHERE case_id IS NOT NULL;
CREATE INDEX retention_log_by_at ON retention_log (at);

CREATE TABLE legal_holds (
    resident_id TEXT PRIMARY KEY REFERENCES residents (id),
    reason      TEXT NOT NULL,
    by_user     TEXT NOT NULL,
    since       TIMESTAMPTZ NOT NULL
);

-- Past its term a case's events go with the rest of it, and only then: the removal is
-- logged first, in the same transaction.
CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND EXISTS (SELECT 1 FROM retention_log l
                                    WHERE l.case_id = OLD.case_id AND l.action = 'zaak-verwijderd') THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'events are append-only';
END;
$$;

-- Finding the ended cases of a pathway by the day they ended.
CREATE INDEX cases_ended_by_pathway ON cases (pathway_key, ended_at) WHERE status <> 'active';
