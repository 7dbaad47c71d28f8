-- The write path (issue 13). Indexes no query needs. Open tasks are found by their roles
-- array and by assignee, not by the first role; a resident's cases by (resident, pathway),
-- whose prefix serves alone.
DROP INDEX tasks_open_by_role;
DROP INDEX cases_by_resident;

-- Two SQL functions the figure triggers call could not be inlined (a FROM clause; an
-- INSERT), so PostgreSQL parsed their text again on every call (12 % of its CPU in the
-- bench's profile, 2 % after). As PL/pgSQL their plans are kept per session.
CREATE OR REPLACE FUNCTION step_hours(opened TIMESTAMPTZ, closed TIMESTAMPTZ) RETURNS INTEGER
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE h INTEGER := greatest(0, floor(extract(epoch FROM closed - opened) / 3600))::int;
BEGIN
    RETURN CASE WHEN h < 48 THEN h ELSE (h / 24) * 24 END;
END;
$$;

CREATE OR REPLACE FUNCTION participant_add(c cases) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO participants (pathway_key, resident_id, case_id, started, status, outcome, ended,
                              rung_first, rung_last, municipality)
    VALUES (c.pathway_key, participant_of(c), c.id, month_utc(c.created_at),
        c.status, coalesce(c.outcome, ''), month_utc(c.ended_at), coalesce(c.rung_first, 0),
        coalesce(c.rung_last, 0),
        coalesce((SELECT r.municipality FROM residents r WHERE r.id = c.resident_id), ''))
    ON CONFLICT (pathway_key, resident_id) DO UPDATE SET
        case_id = excluded.case_id, status = excluded.status, outcome = excluded.outcome,
        ended = excluded.ended, municipality = excluded.municipality,
        rung_first = CASE WHEN participants.rung_first = 0 THEN excluded.rung_first
                          ELSE participants.rung_first END,
        rung_last = CASE WHEN excluded.rung_last = 0 THEN participants.rung_last ELSE excluded.rung_last END;
END;
$$;

-- The funnel's trigger reads only the case's resident and pathway, not the whole row with
-- its state.
CREATE OR REPLACE FUNCTION tasks_reach_step() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    resident TEXT;
    pathway TEXT;
BEGIN
    SELECT c.resident_id, c.pathway_key INTO resident, pathway FROM cases c WHERE c.id = NEW.case_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT 1 FROM tasks t WHERE t.case_id = NEW.case_id AND t.step = NEW.step
               AND t.task_id <> NEW.task_id)
       OR EXISTS (SELECT 1 FROM cases c JOIN tasks t ON t.case_id = c.id AND t.step = NEW.step
                  WHERE c.resident_id = resident AND c.pathway_key = pathway AND c.id <> NEW.case_id) THEN
        RETURN NULL;
    END IF;
    INSERT INTO funnel_stats
    SELECT p.pathway_key, p.started, NEW.step, 1 FROM participants p
    WHERE p.pathway_key = pathway AND p.resident_id = coalesce(resident, 'zaak:' || NEW.case_id)
    ON CONFLICT (pathway_key, cohort, step) DO UPDATE SET n = funnel_stats.n + 1;
    RETURN NULL;
END;
$$;

-- The participants' trigger ran on every command (the commit sets the figure columns, even
-- unchanged) only to find nothing changed; the check now runs before the call.
DROP TRIGGER cases_participant ON cases;
CREATE TRIGGER cases_participant_insert AFTER INSERT ON cases
    FOR EACH ROW EXECUTE FUNCTION cases_participant();
CREATE TRIGGER cases_participant_update AFTER UPDATE OF status, outcome, ended_at, rung_first, rung_last ON cases
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.outcome IS DISTINCT FROM NEW.outcome
          OR OLD.ended_at IS DISTINCT FROM NEW.ended_at OR OLD.rung_first IS DISTINCT FROM NEW.rung_first
          OR OLD.rung_last IS DISTINCT FROM NEW.rung_last)
    EXECUTE FUNCTION cases_participant();
