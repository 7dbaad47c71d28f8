-- Doorloop schema, PostgreSQL flavour.

CREATE TABLE pathway_versions (
    key          TEXT        NOT NULL,
    version      INTEGER     NOT NULL CHECK (version > 0),
    name         TEXT        NOT NULL,
    definition   JSONB       NOT NULL,
    source       TEXT        NOT NULL,
    published_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (key, version)
);

CREATE FUNCTION pathway_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'published pathway versions are immutable';
END;
$$;
CREATE TRIGGER pathway_versions_are_immutable BEFORE UPDATE OR DELETE ON pathway_versions
    FOR EACH ROW EXECUTE FUNCTION pathway_versions_immutable();

CREATE TABLE cases (
    id              TEXT        PRIMARY KEY,
    pathway_key     TEXT        NOT NULL,
    pathway_version INTEGER     NOT NULL,
    status          TEXT        NOT NULL CHECK (status IN ('active', 'ended', 'withdrawn')),
    version         BIGINT      NOT NULL,
    prev_version    BIGINT      NOT NULL,
    state           JSONB       NOT NULL,
    last_command    TEXT        NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    FOREIGN KEY (pathway_key, pathway_version) REFERENCES pathway_versions (key, version)
);
CREATE INDEX cases_by_pathway ON cases (pathway_key, pathway_version, status);

CREATE TABLE events (
    case_id     TEXT        NOT NULL REFERENCES cases (id),
    first_seq   BIGINT      NOT NULL,
    event_count INTEGER     NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    actor       TEXT        NOT NULL,
    command     TEXT        NOT NULL,
    payload     JSONB       NOT NULL,
    PRIMARY KEY (case_id, first_seq)
);

CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only';
END;
$$;
CREATE TRIGGER events_are_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();

CREATE TABLE tasks (
    case_id   TEXT        NOT NULL REFERENCES cases (id),
    task_id   TEXT        NOT NULL,
    step      TEXT        NOT NULL,
    role      TEXT        NOT NULL,
    roles     JSONB       NOT NULL,
    assignee  TEXT,
    status    TEXT        NOT NULL CHECK (status IN ('open', 'done', 'closed')),
    opened_at TIMESTAMPTZ NOT NULL,
    due_at    TIMESTAMPTZ,
    closed_at TIMESTAMPTZ,
    PRIMARY KEY (case_id, task_id)
);
CREATE INDEX tasks_open_by_role ON tasks (role, due_at) WHERE status = 'open';
CREATE INDEX tasks_open_by_assignee ON tasks (assignee, due_at) WHERE status = 'open';
CREATE INDEX tasks_open_by_due ON tasks (due_at) WHERE status = 'open';
CREATE INDEX tasks_done_by_step ON tasks (step, closed_at) WHERE status = 'done';

CREATE TABLE timers (
    key         TEXT        PRIMARY KEY,
    case_id     TEXT        NOT NULL REFERENCES cases (id),
    task_id     TEXT,
    kind        TEXT        NOT NULL,
    due_at      TIMESTAMPTZ NOT NULL,
    status      TEXT        NOT NULL CHECK (status IN ('pending', 'fired', 'cancelled')),
    lease_owner TEXT,
    lease_until TIMESTAMPTZ
);
CREATE INDEX timers_due ON timers (due_at) WHERE status = 'pending';
CREATE INDEX timers_by_case ON timers (case_id);

CREATE TABLE outbox (
    key             TEXT        PRIMARY KEY,
    case_id         TEXT        REFERENCES cases (id),
    task_id         TEXT,
    kind            TEXT        NOT NULL,
    recipient_type  TEXT        NOT NULL CHECK (recipient_type IN ('role', 'user')),
    recipient       TEXT        NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    status          TEXT        NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'dead')),
    attempts        INTEGER     NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    last_error      TEXT
);
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_by_case ON outbox (case_id);

-- Open and cleared stall flags (projection of the case state), for the queue view.
CREATE TABLE stalls (
    case_id     TEXT        NOT NULL REFERENCES cases (id),
    key         TEXT        NOT NULL,
    pathway_key TEXT        NOT NULL,
    reason      TEXT        NOT NULL,
    step        TEXT,
    party       TEXT,
    since       TIMESTAMPTZ NOT NULL,
    raised_at   TIMESTAMPTZ NOT NULL,
    cleared_at  TIMESTAMPTZ,
    PRIMARY KEY (case_id, key)
);
CREATE INDEX stalls_open ON stalls (reason, party, step) WHERE cleared_at IS NULL;

-- Runs of recurring schedules (cron): one row per planned moment, so a restart neither
-- repeats nor skips a run.
CREATE TABLE schedule_runs (
    name       TEXT        NOT NULL,
    planned_at TIMESTAMPTZ NOT NULL,
    owner      TEXT        NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (name, planned_at)
);

-- Used by `doorloop bench` to measure the bare commit rate.
CREATE TABLE bench_commits (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL
);
