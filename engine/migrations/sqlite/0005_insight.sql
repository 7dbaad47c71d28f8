-- Figures for managers, pathway drafts, and moving cases between versions.

-- Case outcome and ladder, kept beside the state so figures never parse it.
ALTER TABLE cases ADD COLUMN outcome TEXT;
ALTER TABLE cases ADD COLUMN ended_at TEXT;
ALTER TABLE cases ADD COLUMN rung_first INTEGER;
ALTER TABLE cases ADD COLUMN rung_last INTEGER;
UPDATE cases SET
    outcome = state ->> '$.outcome',
    rung_first = state ->> '$.rung_history[0].rung',
    rung_last = state ->> '$.rung',
    ended_at = CASE WHEN status <> 'active' THEN updated_at END;
-- Participants, ladder movement and cohorts by start; outflow by end.
CREATE INDEX cases_started ON cases (pathway_key, created_at, status, rung_first, rung_last, outcome, ended_at);
CREATE INDEX cases_ended ON cases (pathway_key, ended_at, outcome) WHERE ended_at IS NOT NULL;

-- Each task names its case's pathway version: open work per step is one index range.
ALTER TABLE tasks ADD COLUMN pathway_key TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN pathway_version INTEGER NOT NULL DEFAULT 0;
UPDATE tasks SET (pathway_key, pathway_version) =
    (SELECT c.pathway_key, c.pathway_version FROM cases c WHERE c.id = tasks.case_id);
CREATE INDEX tasks_open_by_step ON tasks (pathway_key, pathway_version, step) WHERE status = 'open';

-- Time spent per step, maintained as work leaves a step: per month (UTC) of leaving, a
-- count per duration, in whole hours below two days and whole days above.
CREATE TABLE step_stats (
    pathway_key     TEXT    NOT NULL,
    pathway_version INTEGER NOT NULL,
    step            TEXT    NOT NULL,
    month           TEXT    NOT NULL,
    hours           INTEGER NOT NULL,
    n               INTEGER NOT NULL,
    PRIMARY KEY (pathway_key, pathway_version, step, month, hours)
) WITHOUT ROWID;

CREATE TRIGGER tasks_left_step_insert AFTER INSERT ON tasks WHEN NEW.closed_at IS NOT NULL
BEGIN
    INSERT INTO step_stats (pathway_key, pathway_version, step, month, hours, n)
    SELECT NEW.pathway_key, NEW.pathway_version, NEW.step, substr(NEW.closed_at, 1, 7),
           CASE WHEN h < 48 THEN h ELSE (h / 24) * 24 END, 1
    FROM (SELECT max(0, CAST((julianday(NEW.closed_at) - julianday(NEW.opened_at)) * 24 AS INTEGER)) AS h)
    WHERE true
    ON CONFLICT (pathway_key, pathway_version, step, month, hours) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER tasks_left_step_update AFTER UPDATE OF closed_at ON tasks
    WHEN NEW.closed_at IS NOT NULL AND OLD.closed_at IS NULL
BEGIN
    INSERT INTO step_stats (pathway_key, pathway_version, step, month, hours, n)
    SELECT NEW.pathway_key, NEW.pathway_version, NEW.step, substr(NEW.closed_at, 1, 7),
           CASE WHEN h < 48 THEN h ELSE (h / 24) * 24 END, 1
    FROM (SELECT max(0, CAST((julianday(NEW.closed_at) - julianday(NEW.opened_at)) * 24 AS INTEGER)) AS h)
    WHERE true
    ON CONFLICT (pathway_key, pathway_version, step, month, hours) DO UPDATE SET n = n + 1;
END;

INSERT INTO step_stats (pathway_key, pathway_version, step, month, hours, n)
SELECT pathway_key, pathway_version, step, month, CASE WHEN h < 48 THEN h ELSE (h / 24) * 24 END AS b, count(*)
FROM (SELECT pathway_key, pathway_version, step, substr(closed_at, 1, 7) AS month,
             max(0, CAST((julianday(closed_at) - julianday(opened_at)) * 24 AS INTEGER)) AS h
      FROM tasks WHERE closed_at IS NOT NULL)
WHERE true
GROUP BY pathway_key, pathway_version, step, month, b;

-- The stuck view reads the open stalls' ages per reason and party from the index alone.
CREATE INDEX stalls_open_age ON stalls (reason, party, since, pathway_key) WHERE cleared_at IS NULL;

-- A coordinator's unpublished edit of a pathway, one per key.
CREATE TABLE pathway_drafts (
    key        TEXT PRIMARY KEY,
    source     TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
