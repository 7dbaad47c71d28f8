-- Figures kept as cases move, so the outcome and funnel screens read small tables.

-- Cases per pathway, start month, status, outcome, end month and first and latest rung
-- (empty text and 0 stand for none). Triggers move a case between groups when it changes.
CREATE TABLE case_stats (
    pathway_key TEXT     NOT NULL,
    started     TEXT     NOT NULL,
    status      TEXT     NOT NULL,
    outcome     TEXT     NOT NULL,
    ended       TEXT     NOT NULL,
    rung_first  SMALLINT NOT NULL,
    rung_last   SMALLINT NOT NULL,
    n           BIGINT   NOT NULL,
    PRIMARY KEY (pathway_key, started, status, outcome, ended, rung_first, rung_last)
);

CREATE FUNCTION month_utc(t TIMESTAMPTZ) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(to_char(t AT TIME ZONE 'UTC', 'YYYY-MM'), '')
$$;

CREATE FUNCTION cases_stats() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.status IS NOT DISTINCT FROM NEW.status AND OLD.outcome IS NOT DISTINCT FROM NEW.outcome
           AND OLD.ended_at IS NOT DISTINCT FROM NEW.ended_at AND OLD.rung_first IS NOT DISTINCT FROM NEW.rung_first
           AND OLD.rung_last IS NOT DISTINCT FROM NEW.rung_last THEN
            RETURN NULL;
        END IF;
        UPDATE case_stats SET n = n - 1
        WHERE pathway_key = OLD.pathway_key AND started = month_utc(OLD.created_at) AND status = OLD.status
          AND outcome = coalesce(OLD.outcome, '') AND ended = month_utc(OLD.ended_at)
          AND rung_first = coalesce(OLD.rung_first, 0) AND rung_last = coalesce(OLD.rung_last, 0);
    END IF;
    INSERT INTO case_stats VALUES (NEW.pathway_key, month_utc(NEW.created_at), NEW.status, coalesce(NEW.outcome, ''),
        month_utc(NEW.ended_at), coalesce(NEW.rung_first, 0), coalesce(NEW.rung_last, 0), 1)
    ON CONFLICT (pathway_key, started, status, outcome, ended, rung_first, rung_last)
    DO UPDATE SET n = case_stats.n + 1;
    RETURN NULL;
END;
$$;
CREATE TRIGGER cases_stats AFTER INSERT OR UPDATE OF status, outcome, ended_at, rung_first, rung_last ON cases
    FOR EACH ROW EXECUTE FUNCTION cases_stats();

INSERT INTO case_stats
SELECT pathway_key, month_utc(created_at), status, coalesce(outcome, ''), month_utc(ended_at),
       coalesce(rung_first, 0), coalesce(rung_last, 0), count(*)
FROM cases GROUP BY 1, 2, 3, 4, 5, 6, 7;

-- The funnel: cases of a start month that reached a step, counted the first time a task
-- opens there for the case.
CREATE TABLE funnel_stats (
    pathway_key TEXT   NOT NULL,
    cohort      TEXT   NOT NULL,
    step        TEXT   NOT NULL,
    n           BIGINT NOT NULL,
    PRIMARY KEY (pathway_key, cohort, step)
);

CREATE FUNCTION tasks_reach_step() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM tasks t WHERE t.case_id = NEW.case_id AND t.step = NEW.step
                   AND t.task_id <> NEW.task_id) THEN
        INSERT INTO funnel_stats
        SELECT NEW.pathway_key, month_utc(c.created_at), NEW.step, 1 FROM cases c WHERE c.id = NEW.case_id
        ON CONFLICT (pathway_key, cohort, step) DO UPDATE SET n = funnel_stats.n + 1;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER tasks_reach_step AFTER INSERT ON tasks FOR EACH ROW EXECUTE FUNCTION tasks_reach_step();

INSERT INTO funnel_stats
SELECT c.pathway_key, month_utc(c.created_at), t.step, count(DISTINCT t.case_id)
FROM tasks t JOIN cases c ON c.id = t.case_id
GROUP BY 1, 2, 3;

-- The stuck view's median per reason walks this index.
CREATE INDEX stalls_open_reason_age ON stalls (reason, since) INCLUDE (pathway_key) WHERE cleared_at IS NULL;
