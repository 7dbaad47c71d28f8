-- Figures for managers, pathway drafts, and moving cases between versions.

-- Case outcome and ladder, kept beside the state so figures never parse it.
ALTER TABLE cases ADD COLUMN outcome TEXT;
ALTER TABLE cases ADD COLUMN ended_at TIMESTAMPTZ;
ALTER TABLE cases ADD COLUMN rung_first SMALLINT;
ALTER TABLE cases ADD COLUMN rung_last SMALLINT;
UPDATE cases SET
    outcome = state ->> 'outcome',
    rung_first = (state -> 'rung_history' -> 0 ->> 'rung')::smallint,
    rung_last = (state ->> 'rung')::smallint,
    ended_at = CASE WHEN status <> 'active' THEN updated_at END;
-- Participants, ladder movement and cohorts by start; outflow by end.
CREATE INDEX cases_started ON cases (pathway_key, created_at)
    INCLUDE (status, rung_first, rung_last, outcome, ended_at);
CREATE INDEX cases_ended ON cases (pathway_key, ended_at, outcome) WHERE ended_at IS NOT NULL;

-- Each task names its case's pathway version: open work per step is one index range.
ALTER TABLE tasks ADD COLUMN pathway_key TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN pathway_version INTEGER NOT NULL DEFAULT 0;
UPDATE tasks t SET pathway_key = c.pathway_key, pathway_version = c.pathway_version
    FROM cases c WHERE c.id = t.case_id;
CREATE INDEX tasks_open_by_step ON tasks (pathway_key, pathway_version, step) WHERE status = 'open';

-- Time spent per step, maintained as work leaves a step: per month (UTC) of leaving, a
-- count per duration, in whole hours below two days and whole days above.
CREATE TABLE step_stats (
    pathway_key     TEXT    NOT NULL,
    pathway_version INTEGER NOT NULL,
    step            TEXT    NOT NULL,
    month           TEXT    NOT NULL,
    hours           INTEGER NOT NULL,
    n               BIGINT  NOT NULL,
    PRIMARY KEY (pathway_key, pathway_version, step, month, hours)
);

CREATE FUNCTION step_hours(opened TIMESTAMPTZ, closed TIMESTAMPTZ) RETURNS INTEGER
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN h < 48 THEN h ELSE (h / 24) * 24 END
    FROM (SELECT greatest(0, floor(extract(epoch FROM closed - opened) / 3600))::int AS h) x
$$;

CREATE FUNCTION tasks_left_step() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.closed_at IS NOT NULL AND (TG_OP = 'INSERT' OR OLD.closed_at IS NULL) THEN
        INSERT INTO step_stats (pathway_key, pathway_version, step, month, hours, n)
        VALUES (NEW.pathway_key, NEW.pathway_version, NEW.step,
                to_char(NEW.closed_at AT TIME ZONE 'UTC', 'YYYY-MM'), step_hours(NEW.opened_at, NEW.closed_at), 1)
        ON CONFLICT (pathway_key, pathway_version, step, month, hours) DO UPDATE SET n = step_stats.n + 1;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER tasks_left_step AFTER INSERT OR UPDATE OF closed_at ON tasks
    FOR EACH ROW EXECUTE FUNCTION tasks_left_step();

INSERT INTO step_stats (pathway_key, pathway_version, step, month, hours, n)
SELECT pathway_key, pathway_version, step, to_char(closed_at AT TIME ZONE 'UTC', 'YYYY-MM'),
       step_hours(opened_at, closed_at), count(*)
FROM tasks WHERE closed_at IS NOT NULL
GROUP BY 1, 2, 3, 4, 5;

-- The stuck view reads the open stalls' ages per reason and party from the index alone.
CREATE INDEX stalls_open_age ON stalls (reason, party, since) INCLUDE (pathway_key) WHERE cleared_at IS NULL;

-- A coordinator's unpublished edit of a pathway, one per key.
CREATE TABLE pathway_drafts (
    key        TEXT PRIMARY KEY,
    source     TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
