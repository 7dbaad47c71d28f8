-- The figures count residents, not cases: a resident who starts on a pathway again (a
-- fall-back, a second try) is one participant of it. A participant belongs to the cohort of
-- their first start, keeps the first rung ever measured on the pathway, and takes status,
-- outcome, end and latest rung from their latest case. Cases feed `participants`; the
-- participants feed `case_stats` (now counting participants).

DROP TRIGGER cases_stats_insert;
DROP TRIGGER cases_stats_update;
DELETE FROM case_stats;

CREATE TABLE participants (
    pathway_key TEXT    NOT NULL,
    resident_id TEXT    NOT NULL,
    case_id     TEXT    NOT NULL,
    started     TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    ended       TEXT    NOT NULL,
    rung_first  INTEGER NOT NULL,
    rung_last   INTEGER NOT NULL,
    PRIMARY KEY (pathway_key, resident_id)
) WITHOUT ROWID;

CREATE TRIGGER participants_stats_insert AFTER INSERT ON participants
BEGIN
    INSERT INTO case_stats VALUES (NEW.pathway_key, NEW.started, NEW.status, NEW.outcome, NEW.ended,
        NEW.rung_first, NEW.rung_last, 1)
    ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER participants_stats_update AFTER UPDATE ON participants
    WHEN OLD.started IS NOT NEW.started OR OLD.status IS NOT NEW.status OR OLD.outcome IS NOT NEW.outcome
      OR OLD.ended IS NOT NEW.ended OR OLD.rung_first IS NOT NEW.rung_first OR OLD.rung_last IS NOT NEW.rung_last
BEGIN
    UPDATE case_stats SET n = n - 1
    WHERE pathway_key = OLD.pathway_key AND started = OLD.started AND status = OLD.status
      AND outcome = OLD.outcome AND ended = OLD.ended AND rung_first = OLD.rung_first
      AND rung_last = OLD.rung_last;
    INSERT INTO case_stats VALUES (NEW.pathway_key, NEW.started, NEW.status, NEW.outcome, NEW.ended,
        NEW.rung_first, NEW.rung_last, 1)
    ON CONFLICT DO UPDATE SET n = n + 1;
END;

-- A new case makes itself its resident's latest on the pathway.
CREATE TRIGGER cases_participant_insert AFTER INSERT ON cases
BEGIN
    INSERT INTO participants VALUES (NEW.pathway_key, coalesce(NEW.resident_id, 'zaak:' || NEW.id), NEW.id,
        substr(NEW.created_at, 1, 7), NEW.status, coalesce(NEW.outcome, ''),
        coalesce(substr(NEW.ended_at, 1, 7), ''), coalesce(NEW.rung_first, 0), coalesce(NEW.rung_last, 0))
    ON CONFLICT DO UPDATE SET
        case_id = excluded.case_id, status = excluded.status, outcome = excluded.outcome,
        ended = excluded.ended,
        rung_first = CASE WHEN rung_first = 0 THEN excluded.rung_first ELSE rung_first END,
        rung_last = CASE WHEN excluded.rung_last = 0 THEN rung_last ELSE excluded.rung_last END;
END;
-- A change of the latest case changes its participant; an earlier case no longer counts.
CREATE TRIGGER cases_participant_update AFTER UPDATE OF status, outcome, ended_at, rung_first, rung_last ON cases
    WHEN OLD.status IS NOT NEW.status OR OLD.outcome IS NOT NEW.outcome OR OLD.ended_at IS NOT NEW.ended_at
      OR OLD.rung_first IS NOT NEW.rung_first OR OLD.rung_last IS NOT NEW.rung_last
BEGIN
    UPDATE participants SET
        status = NEW.status, outcome = coalesce(NEW.outcome, ''), ended = coalesce(substr(NEW.ended_at, 1, 7), ''),
        rung_first = CASE WHEN rung_first = 0 THEN coalesce(NEW.rung_first, 0) ELSE rung_first END,
        rung_last = CASE WHEN NEW.rung_last IS NULL THEN rung_last ELSE NEW.rung_last END
    WHERE pathway_key = NEW.pathway_key AND resident_id = coalesce(NEW.resident_id, 'zaak:' || NEW.id)
      AND case_id = NEW.id;
END;

-- Every resident's cases so far, through the triggers above, oldest first.
INSERT INTO participants
SELECT pathway_key, coalesce(resident_id, 'zaak:' || id), id, substr(created_at, 1, 7), status,
       coalesce(outcome, ''), coalesce(substr(ended_at, 1, 7), ''), coalesce(rung_first, 0), coalesce(rung_last, 0)
FROM cases WHERE true
ORDER BY created_at, id
ON CONFLICT DO UPDATE SET
    case_id = excluded.case_id, status = excluded.status, outcome = excluded.outcome, ended = excluded.ended,
    rung_first = CASE WHEN rung_first = 0 THEN excluded.rung_first ELSE rung_first END,
    rung_last = CASE WHEN excluded.rung_last = 0 THEN rung_last ELSE excluded.rung_last END;

-- The funnel: participants of a cohort that reached a step, counted the first time a task
-- opens there for any of the resident's cases on the pathway.
DROP TRIGGER tasks_reach_step;
DELETE FROM funnel_stats;
CREATE INDEX cases_by_resident_pathway ON cases (resident_id, pathway_key);

CREATE TRIGGER tasks_reach_step AFTER INSERT ON tasks
    WHEN NOT EXISTS (
        SELECT 1 FROM cases me JOIN cases c
          ON c.resident_id = me.resident_id AND c.pathway_key = me.pathway_key
          JOIN tasks t ON t.case_id = c.id AND t.step = NEW.step
        WHERE me.id = NEW.case_id AND NOT (t.case_id = NEW.case_id AND t.task_id = NEW.task_id))
     AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.case_id = NEW.case_id AND t.step = NEW.step
                     AND t.task_id <> NEW.task_id)
BEGIN
    INSERT INTO funnel_stats
    SELECT p.pathway_key, p.started, NEW.step, 1
    FROM cases c JOIN participants p
      ON p.pathway_key = c.pathway_key AND p.resident_id = coalesce(c.resident_id, 'zaak:' || c.id)
    WHERE c.id = NEW.case_id
    ON CONFLICT DO UPDATE SET n = n + 1;
END;

INSERT INTO funnel_stats
SELECT p.pathway_key, p.started, t.step, count(DISTINCT p.resident_id)
FROM tasks t JOIN cases c ON c.id = t.case_id
JOIN participants p ON p.pathway_key = c.pathway_key AND p.resident_id = coalesce(c.resident_id, 'zaak:' || c.id)
WHERE true
GROUP BY 1, 2, 3;
