-- Figures per municipality: a participant counts for the municipality their resident lived
-- in when their latest case on the pathway started ('' when not recorded). A municipality's
-- managers read their own; the region reads them side by side.

ALTER TABLE participants ADD COLUMN municipality TEXT NOT NULL DEFAULT '';
UPDATE participants SET municipality =
    coalesce((SELECT r.municipality FROM residents r WHERE r.id = participants.resident_id), '');

DROP TRIGGER participants_stats_insert;
DROP TRIGGER participants_stats_update;
DROP TABLE case_stats;
CREATE TABLE case_stats (
    pathway_key  TEXT    NOT NULL,
    municipality TEXT    NOT NULL,
    started      TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    outcome      TEXT    NOT NULL,
    ended        TEXT    NOT NULL,
    rung_first   INTEGER NOT NULL,
    rung_last    INTEGER NOT NULL,
    n            INTEGER NOT NULL,
    PRIMARY KEY (pathway_key, municipality, started, status, outcome, ended, rung_first, rung_last)
) WITHOUT ROWID;

CREATE TRIGGER participants_stats_insert AFTER INSERT ON participants
BEGIN
    INSERT INTO case_stats VALUES (NEW.pathway_key, NEW.municipality, NEW.started, NEW.status, NEW.outcome,
        NEW.ended, NEW.rung_first, NEW.rung_last, 1)
    ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER participants_stats_update AFTER UPDATE ON participants
    WHEN OLD.started IS NOT NEW.started OR OLD.status IS NOT NEW.status OR OLD.outcome IS NOT NEW.outcome
      OR OLD.ended IS NOT NEW.ended OR OLD.rung_first IS NOT NEW.rung_first OR OLD.rung_last IS NOT NEW.rung_last
      OR OLD.municipality IS NOT NEW.municipality
BEGIN
    UPDATE case_stats SET n = n - 1
    WHERE pathway_key = OLD.pathway_key AND municipality = OLD.municipality AND started = OLD.started
      AND status = OLD.status AND outcome = OLD.outcome AND ended = OLD.ended
      AND rung_first = OLD.rung_first AND rung_last = OLD.rung_last;
    INSERT INTO case_stats VALUES (NEW.pathway_key, NEW.municipality, NEW.started, NEW.status, NEW.outcome,
        NEW.ended, NEW.rung_first, NEW.rung_last, 1)
    ON CONFLICT DO UPDATE SET n = n + 1;
END;

INSERT INTO case_stats
SELECT pathway_key, municipality, started, status, outcome, ended, rung_first, rung_last, count(*)
FROM participants WHERE true
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

-- A new case takes its resident's municipality along.
DROP TRIGGER cases_participant_insert;
CREATE TRIGGER cases_participant_insert AFTER INSERT ON cases
BEGIN
    INSERT INTO participants (pathway_key, resident_id, case_id, started, status, outcome, ended,
                              rung_first, rung_last, municipality)
    VALUES (NEW.pathway_key, coalesce(NEW.resident_id, 'zaak:' || NEW.id), NEW.id,
        substr(NEW.created_at, 1, 7), NEW.status, coalesce(NEW.outcome, ''),
        coalesce(substr(NEW.ended_at, 1, 7), ''), coalesce(NEW.rung_first, 0), coalesce(NEW.rung_last, 0),
        coalesce((SELECT r.municipality FROM residents r WHERE r.id = NEW.resident_id), ''))
    ON CONFLICT DO UPDATE SET
        case_id = excluded.case_id, status = excluded.status, outcome = excluded.outcome,
        ended = excluded.ended, municipality = excluded.municipality,
        rung_first = CASE WHEN rung_first = 0 THEN excluded.rung_first ELSE rung_first END,
        rung_last = CASE WHEN excluded.rung_last = 0 THEN rung_last ELSE excluded.rung_last END;
END;
