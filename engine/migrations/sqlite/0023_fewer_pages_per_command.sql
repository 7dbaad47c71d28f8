-- The write path (issue 13): fewer b-trees written per command (each one it touches is a
-- 4 KB frame in the WAL; about 30 per command).

-- Timers keyed by their key alone: the row and its key in one b-tree instead of two.
CREATE TABLE timers_keyed (
    key         TEXT PRIMARY KEY,
    case_id     TEXT NOT NULL REFERENCES cases (id),
    task_id     TEXT,
    kind        TEXT NOT NULL,
    due_at      TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'fired', 'cancelled')),
    lease_owner TEXT,
    lease_until TEXT
) WITHOUT ROWID;
INSERT INTO timers_keyed (key, case_id, task_id, kind, due_at, status, lease_owner, lease_until)
    SELECT key, case_id, task_id, kind, due_at, status, lease_owner, lease_until FROM timers;
DROP TABLE timers;
ALTER TABLE timers_keyed RENAME TO timers;
CREATE INDEX timers_due ON timers (due_at) WHERE status = 'pending';
CREATE INDEX timers_by_case ON timers (case_id);

-- Indexes no query needs: open tasks are found by their roles array and by assignee, not by
-- the first role; a resident's cases by (resident, pathway), whose prefix serves alone. The
-- team's unassigned tasks are walked in due order through (assignee, due_at) with
-- `assignee IS NULL`: EXPLAIN QUERY PLAN of the work list, the resident search and the
-- visit list chose tasks_open_by_assignee with or without tasks_open_unassigned.
DROP INDEX tasks_open_by_role;
DROP INDEX cases_by_resident;
DROP INDEX tasks_open_unassigned;
-- Open stalls are counted and listed through stalls_open_age and stalls_open_reason_age
-- (the same EXPLAIN QUERY PLAN check, with and without stalls_open).
DROP INDEX stalls_open;
