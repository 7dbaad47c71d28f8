-- Doorloop schema, SQLite flavour. Times are RFC 3339 UTC text (sortable).

CREATE TABLE pathway_versions (
    key          TEXT    NOT NULL,
    version      INTEGER NOT NULL CHECK (version > 0),
    name         TEXT    NOT NULL,
    definition   TEXT    NOT NULL,          -- the pathway as JSON (model::Pathway)
    source       TEXT    NOT NULL,          -- the file as the coordinator wrote it
    published_at TEXT    NOT NULL,
    PRIMARY KEY (key, version)
);

-- A published version never changes: cases run on it.
CREATE TRIGGER pathway_versions_are_immutable_update BEFORE UPDATE ON pathway_versions
BEGIN SELECT RAISE(ABORT, 'published pathway versions are immutable'); END;
CREATE TRIGGER pathway_versions_are_immutable_delete BEFORE DELETE ON pathway_versions
BEGIN SELECT RAISE(ABORT, 'published pathway versions are immutable'); END;

CREATE TABLE cases (
    id              TEXT    PRIMARY KEY,
    pathway_key     TEXT    NOT NULL,
    pathway_version INTEGER NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('active', 'ended', 'withdrawn')),
    version         INTEGER NOT NULL,       -- number of events: optimistic concurrency
    prev_version    INTEGER NOT NULL,       -- the version the last command was decided on
    state           TEXT    NOT NULL,       -- runtime::CaseState as JSON
    last_command    TEXT    NOT NULL,       -- id of the command that wrote this version
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    FOREIGN KEY (pathway_key, pathway_version) REFERENCES pathway_versions (key, version)
);
CREATE INDEX cases_by_pathway ON cases (pathway_key, pathway_version, status);

-- Append-only audit trail: one row per command (who, when, which command) holding
-- the events it produced, numbered first_seq .. first_seq + event_count - 1.
CREATE TABLE events (
    case_id     TEXT    NOT NULL REFERENCES cases (id),
    first_seq   INTEGER NOT NULL,           -- sequence number of the row's first event
    event_count INTEGER NOT NULL,
    at          TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    command     TEXT    NOT NULL,
    payload     TEXT    NOT NULL,           -- JSON array of the command's events
    PRIMARY KEY (case_id, first_seq)
) WITHOUT ROWID;

CREATE TRIGGER events_are_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_are_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;

-- Projection of open and closed work, for task lists.
CREATE TABLE tasks (
    case_id   TEXT NOT NULL REFERENCES cases (id),
    task_id   TEXT NOT NULL,
    step      TEXT NOT NULL,
    role      TEXT NOT NULL,                -- first responsible role
    roles     TEXT NOT NULL,                -- JSON array of all responsible roles
    assignee  TEXT,
    status    TEXT NOT NULL CHECK (status IN ('open', 'done', 'closed')),
    opened_at TEXT NOT NULL,
    due_at    TEXT,
    closed_at TEXT,
    PRIMARY KEY (case_id, task_id)
) WITHOUT ROWID;
CREATE INDEX tasks_open_by_role ON tasks (role, due_at) WHERE status = 'open';
CREATE INDEX tasks_open_by_assignee ON tasks (assignee, due_at) WHERE status = 'open';
CREATE INDEX tasks_open_by_due ON tasks (due_at) WHERE status = 'open';
CREATE INDEX tasks_done_by_step ON tasks (step, closed_at) WHERE status = 'done';

CREATE TABLE timers (
    key         TEXT PRIMARY KEY,
    case_id     TEXT NOT NULL REFERENCES cases (id),
    task_id     TEXT,
    kind        TEXT NOT NULL,
    due_at      TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'fired', 'cancelled')),
    lease_owner TEXT,
    lease_until TEXT
);
CREATE INDEX timers_due ON timers (due_at) WHERE status = 'pending';
CREATE INDEX timers_by_case ON timers (case_id);

CREATE TABLE outbox (
    key             TEXT PRIMARY KEY,       -- idempotency key
    case_id         TEXT REFERENCES cases (id),      -- none for digests and summaries
    task_id         TEXT,
    kind            TEXT NOT NULL,
    recipient_type  TEXT NOT NULL CHECK (recipient_type IN ('role', 'user')),
    recipient       TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT
);
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_by_case ON outbox (case_id);

-- Open and cleared stall flags (projection of the case state), for the queue view.
CREATE TABLE stalls (
    case_id     TEXT NOT NULL REFERENCES cases (id),
    key         TEXT NOT NULL,
    pathway_key TEXT NOT NULL,
    reason      TEXT NOT NULL,
    step        TEXT,
    party       TEXT,
    since       TEXT NOT NULL,
    raised_at   TEXT NOT NULL,
    cleared_at  TEXT,
    PRIMARY KEY (case_id, key)
);
CREATE INDEX stalls_open ON stalls (reason, party, step) WHERE cleared_at IS NULL;

-- Runs of recurring schedules (cron): one row per planned moment, so a restart neither
-- repeats nor skips a run.
CREATE TABLE schedule_runs (
    name       TEXT NOT NULL,
    planned_at TEXT NOT NULL,
    owner      TEXT NOT NULL,
    started_at TEXT NOT NULL,
    PRIMARY KEY (name, planned_at)
);

-- Used by `doorloop bench` to measure the bare commit rate of the same database.
CREATE TABLE bench_commits (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL
);
