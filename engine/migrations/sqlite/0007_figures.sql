-- Figures kept as cases move, so the outcome and funnel screens read small tables.

-- Cases per pathway, start month, status, outcome, end month and first and latest rung
-- (empty text and 0 stand for none). Triggers move a case between groups when it changes.
CREATE TABLE case_stats (
    pathway_key TEXT    NOT NULL,
    started     TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    ended       TEXT    NOT NULL,
    rung_first  INTEGER NOT NULL,
    rung_last   INTEGER NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (pathway_key, started, status, outcome, ended, rung_first, rung_last)
) WITHOUT ROWID;

CREATE TRIGGER cases_stats_insert AFTER INSERT ON cases
BEGIN
    INSERT INTO case_stats VALUES (NEW.pathway_key, substr(NEW.created_at, 1, 7), NEW.status,
        coalesce(NEW.outcome, ''), coalesce(substr(NEW.ended_at, 1, 7), ''), coalesce(NEW.rung_first, 0),
        coalesce(NEW.rung_last, 0), 1)
    ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER cases_stats_update AFTER UPDATE OF status, outcome, ended_at, rung_first, rung_last ON cases
    WHEN OLD.status IS NOT NEW.status OR OLD.outcome IS NOT NEW.outcome OR OLD.ended_at IS NOT NEW.ended_at
      OR OLD.rung_first IS NOT NEW.rung_first OR OLD.rung_last IS NOT NEW.rung_last
BEGIN
    UPDATE case_stats SET n = n - 1
    WHERE pathway_key = OLD.pathway_key AND started = substr(OLD.created_at, 1, 7) AND status = OLD.status
      AND outcome = coalesce(OLD.outcome, '') AND ended = coalesce(substr(OLD.ended_at, 1, 7), '')
      AND rung_first = coalesce(OLD.rung_first, 0) AND rung_last = coalesce(OLD.rung_last, 0);
    INSERT INTO case_stats VALUES (NEW.pathway_key, substr(NEW.created_at, 1, 7), NEW.status,
        coalesce(NEW.outcome, ''), coalesce(substr(NEW.ended_at, 1, 7), ''), coalesce(NEW.rung_first, 0),
        coalesce(NEW.rung_last, 0), 1)
    ON CONFLICT DO UPDATE SET n = n + 1;
END;

INSERT INTO case_stats
SELECT pathway_key, substr(created_at, 1, 7), status, coalesce(outcome, ''), coalesce(substr(ended_at, 1, 7), ''),
       coalesce(rung_first, 0), coalesce(rung_last, 0), count(*)
FROM cases WHERE true
GROUP BY 1, 2, 3, 4, 5, 6, 7;

-- The funnel: cases of a start month that reached a step, counted the first time a task
-- opens there for the case.
CREATE TABLE funnel_stats (
    pathway_key TEXT    NOT NULL,
    cohort      TEXT    NOT NULL,
    step        TEXT    NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (pathway_key, cohort, step)
) WITHOUT ROWID;

CREATE TRIGGER tasks_reach_step AFTER INSERT ON tasks
    WHEN NOT EXISTS (SELECT 1 FROM tasks t WHERE t.case_id = NEW.case_id AND t.step = NEW.step
                     AND t.task_id <> NEW.task_id)
BEGIN
    INSERT INTO funnel_stats
    SELECT NEW.pathway_key, substr(c.created_at, 1, 7), NEW.step, 1 FROM cases c WHERE c.id = NEW.case_id
    ON CONFLICT DO UPDATE SET n = n + 1;
END;

INSERT INTO funnel_stats
SELECT c.pathway_key, substr(c.created_at, 1, 7), t.step, count(DISTINCT t.case_id)
FROM tasks t JOIN cases c ON c.id = t.case_id WHERE true
GROUP BY 1, 2, 3;

-- The stuck view's median per reason walks this index.
CREATE INDEX stalls_open_reason_age ON stalls (reason, since, pathway_key) WHERE cleared_at IS NULL;
