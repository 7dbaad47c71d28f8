-- The figures count residents, not cases: a resident who starts on a pathway again (a
-- fall-back, a second try) is one participant of it. A participant belongs to the cohort of
-- their first start, keeps the first rung ever measured on the pathway, and takes status,
-- outcome, end and latest rung from their latest case. Cases feed `participants`; the
-- participants feed `case_stats` (now counting participants).

DROP TRIGGER cases_stats ON cases;
DROP FUNCTION cases_stats();
DELETE FROM case_stats;

CREATE TABLE participants (
    pathway_key TEXT     NOT NULL,
    resident_id TEXT     NOT NULL,
    case_id     TEXT     NOT NULL,
    started     TEXT     NOT NULL,
    status      TEXT     NOT NULL,
    outcome     TEXT     NOT NULL,
    ended       TEXT     NOT NULL,
    rung_first  SMALLINT NOT NULL,
    rung_last   SMALLINT NOT NULL,
    PRIMARY KEY (pathway_key, resident_id)
);

CREATE FUNCTION participants_stats() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.started = NEW.started AND OLD.status = NEW.status AND OLD.outcome = NEW.outcome
           AND OLD.ended = NEW.ended AND OLD.rung_first = NEW.rung_first AND OLD.rung_last = NEW.rung_last THEN
            RETURN NULL;
        END IF;
        UPDATE case_stats SET n = n - 1
        WHERE pathway_key = OLD.pathway_key AND started = OLD.started AND status = OLD.status
          AND outcome = OLD.outcome AND ended = OLD.ended AND rung_first = OLD.rung_first
          AND rung_last = OLD.rung_last;
    END IF;
    INSERT INTO case_stats VALUES (NEW.pathway_key, NEW.started, NEW.status, NEW.outcome, NEW.ended,
        NEW.rung_first, NEW.rung_last, 1)
    ON CONFLICT (pathway_key, started, status, outcome, ended, rung_first, rung_last)
    DO UPDATE SET n = case_stats.n + 1;
    RETURN NULL;
END;
$$;
CREATE TRIGGER participants_stats AFTER INSERT OR UPDATE ON participants
    FOR EACH ROW EXECUTE FUNCTION participants_stats();

CREATE FUNCTION participant_of(c cases) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(c.resident_id, 'zaak:' || c.id)
$$;

-- A case (new, or replayed in start order below) makes itself its resident's latest on the
-- pathway: the cohort and first rung stay those of the first, the rest follows the latest.
CREATE FUNCTION participant_add(c cases) RETURNS void LANGUAGE sql AS $$
    INSERT INTO participants VALUES (c.pathway_key, participant_of(c), c.id, month_utc(c.created_at),
        c.status, coalesce(c.outcome, ''), month_utc(c.ended_at), coalesce(c.rung_first, 0),
        coalesce(c.rung_last, 0))
    ON CONFLICT (pathway_key, resident_id) DO UPDATE SET
        case_id = excluded.case_id, status = excluded.status, outcome = excluded.outcome,
        ended = excluded.ended,
        rung_first = CASE WHEN participants.rung_first = 0 THEN excluded.rung_first
                          ELSE participants.rung_first END,
        rung_last = CASE WHEN excluded.rung_last = 0 THEN participants.rung_last ELSE excluded.rung_last END
$$;

-- A change of the latest case changes its participant; an earlier case no longer counts.
CREATE FUNCTION cases_participant() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM participant_add(NEW);
        RETURN NULL;
    END IF;
    IF OLD.status IS NOT DISTINCT FROM NEW.status AND OLD.outcome IS NOT DISTINCT FROM NEW.outcome
       AND OLD.ended_at IS NOT DISTINCT FROM NEW.ended_at AND OLD.rung_first IS NOT DISTINCT FROM NEW.rung_first
       AND OLD.rung_last IS NOT DISTINCT FROM NEW.rung_last THEN
        RETURN NULL;
    END IF;
    UPDATE participants SET
        status = NEW.status, outcome = coalesce(NEW.outcome, ''), ended = month_utc(NEW.ended_at),
        rung_first = CASE WHEN rung_first = 0 THEN coalesce(NEW.rung_first, 0) ELSE rung_first END,
        rung_last = coalesce(NEW.rung_last, rung_last)
    WHERE pathway_key = NEW.pathway_key AND resident_id = participant_of(NEW) AND case_id = NEW.id;
    RETURN NULL;
END;
$$;

-- Every resident's cases so far, oldest first, through the participants' trigger.
DO $$
DECLARE c cases;
BEGIN
    FOR c IN SELECT * FROM cases ORDER BY created_at, id LOOP
        PERFORM participant_add(c);
    END LOOP;
END;
$$;

CREATE TRIGGER cases_participant AFTER INSERT OR UPDATE OF status, outcome, ended_at, rung_first, rung_last ON cases
    FOR EACH ROW EXECUTE FUNCTION cases_participant();

-- The funnel: participants of a cohort that reached a step, counted the first time a task
-- opens there for any of the resident's cases on the pathway.
DROP TRIGGER tasks_reach_step ON tasks;
DROP FUNCTION tasks_reach_step();
DELETE FROM funnel_stats;
CREATE INDEX cases_by_resident_pathway ON cases (resident_id, pathway_key);

CREATE FUNCTION tasks_reach_step() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE me cases;
BEGIN
    SELECT * INTO me FROM cases WHERE id = NEW.case_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT 1 FROM tasks t WHERE t.case_id = NEW.case_id AND t.step = NEW.step
               AND t.task_id <> NEW.task_id)
       OR EXISTS (SELECT 1 FROM cases c JOIN tasks t ON t.case_id = c.id AND t.step = NEW.step
                  WHERE c.resident_id = me.resident_id AND c.pathway_key = me.pathway_key
                    AND c.id <> me.id) THEN
        RETURN NULL;
    END IF;
    INSERT INTO funnel_stats
    SELECT p.pathway_key, p.started, NEW.step, 1 FROM participants p
    WHERE p.pathway_key = me.pathway_key AND p.resident_id = participant_of(me)
    ON CONFLICT (pathway_key, cohort, step) DO UPDATE SET n = funnel_stats.n + 1;
    RETURN NULL;
END;
$$;
CREATE TRIGGER tasks_reach_step AFTER INSERT ON tasks FOR EACH ROW EXECUTE FUNCTION tasks_reach_step();

INSERT INTO funnel_stats
SELECT p.pathway_key, p.started, t.step, count(DISTINCT p.resident_id)
FROM tasks t JOIN cases c ON c.id = t.case_id
JOIN participants p ON p.pathway_key = c.pathway_key AND p.resident_id = participant_of(c)
GROUP BY 1, 2, 3;
