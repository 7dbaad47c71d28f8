-- Figures per municipality: a participant counts for the municipality their resident lived
-- in when their latest case on the pathway started ('' when not recorded). A municipality's
-- managers read their own; the region reads them side by side.

ALTER TABLE participants ADD COLUMN municipality TEXT NOT NULL DEFAULT '';
UPDATE participants p SET municipality = coalesce(r.municipality, '')
FROM residents r WHERE r.id = p.resident_id;

ALTER TABLE case_stats ADD COLUMN municipality TEXT NOT NULL DEFAULT '';
DELETE FROM case_stats;
ALTER TABLE case_stats DROP CONSTRAINT case_stats_pkey;
ALTER TABLE case_stats ADD PRIMARY KEY (pathway_key, municipality, started, status, outcome, ended, rung_first, rung_last);
INSERT INTO case_stats (pathway_key, municipality, started, status, outcome, ended, rung_first, rung_last, n)
SELECT pathway_key, municipality, started, status, outcome, ended, rung_first, rung_last, count(*)
FROM participants
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

CREATE OR REPLACE FUNCTION participants_stats() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.started = NEW.started AND OLD.status = NEW.status AND OLD.outcome = NEW.outcome
           AND OLD.ended = NEW.ended AND OLD.rung_first = NEW.rung_first AND OLD.rung_last = NEW.rung_last
           AND OLD.municipality = NEW.municipality THEN
            RETURN NULL;
        END IF;
        UPDATE case_stats SET n = n - 1
        WHERE pathway_key = OLD.pathway_key AND municipality = OLD.municipality AND started = OLD.started
          AND status = OLD.status AND outcome = OLD.outcome AND ended = OLD.ended
          AND rung_first = OLD.rung_first AND rung_last = OLD.rung_last;
    END IF;
    INSERT INTO case_stats (pathway_key, municipality, started, status, outcome, ended, rung_first, rung_last, n)
    VALUES (NEW.pathway_key, NEW.municipality, NEW.started, NEW.status, NEW.outcome, NEW.ended,
            NEW.rung_first, NEW.rung_last, 1)
    ON CONFLICT (pathway_key, municipality, started, status, outcome, ended, rung_first, rung_last)
    DO UPDATE SET n = case_stats.n + 1;
    RETURN NULL;
END;
$$;

-- A new case takes its resident's municipality along.
CREATE OR REPLACE FUNCTION participant_add(c cases) RETURNS void LANGUAGE sql AS $$
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
        rung_last = CASE WHEN excluded.rung_last = 0 THEN participants.rung_last ELSE excluded.rung_last END
$$;
