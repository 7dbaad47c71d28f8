-- People, sessions and the access log (web admin).

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    display_name  TEXT        NOT NULL,
    role          TEXT        NOT NULL CHECK (role IN ('coordinator', 'consultant', 'manager', 'admin')),
    teams         JSONB       NOT NULL DEFAULT '[]',
    email         TEXT,
    organisation  TEXT        NOT NULL,
    password_hash TEXT,
    active        BOOLEAN     NOT NULL DEFAULT TRUE,
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT        NOT NULL REFERENCES users (id),
    label      TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_id);

CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    data       TEXT        NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE access_log (
    id      BIGSERIAL PRIMARY KEY,
    at      TIMESTAMPTZ NOT NULL,
    user_id TEXT        NOT NULL,
    case_id TEXT        NOT NULL,
    purpose TEXT        NOT NULL
);
CREATE INDEX access_log_by_case ON access_log (case_id, at);
CREATE INDEX access_log_by_user ON access_log (user_id, at);

CREATE FUNCTION access_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the access log is append-only';
END;
$$;
CREATE TRIGGER access_log_is_append_only BEFORE UPDATE OR DELETE ON access_log
    FOR EACH ROW EXECUTE FUNCTION access_log_append_only();

CREATE INDEX tasks_open_unassigned ON tasks (due_at) WHERE status = 'open' AND assignee IS NULL;

-- "Cases I acted on" (the case team) and audits of one person's actions.
CREATE INDEX events_by_actor ON events (actor, case_id);
