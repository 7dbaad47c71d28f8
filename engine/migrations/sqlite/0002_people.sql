-- People, sessions and the access log (web admin).

CREATE TABLE users (
    id            TEXT PRIMARY KEY,          -- login name
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('coordinator', 'consultant', 'manager', 'admin')),
    teams         TEXT NOT NULL DEFAULT '[]',  -- JSON array of role teams (wmo-consulent, ...)
    email         TEXT,
    organisation  TEXT NOT NULL,
    password_hash TEXT,                      -- argon2id PHC string; none = cannot log in locally
    active        INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL
);

-- API tokens: only a SHA-256 of the token is kept.
CREATE TABLE api_tokens (
    token_hash   TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id),
    label        TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_id);

-- Server-side sessions (the cookie holds only the random id).
CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    data       TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- Every view of a case (page or API record): who, which case, when, for what.
CREATE TABLE access_log (
    id      INTEGER PRIMARY KEY,
    at      TEXT NOT NULL,
    user_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    purpose TEXT NOT NULL
);
CREATE INDEX access_log_by_case ON access_log (case_id, at);
CREATE INDEX access_log_by_user ON access_log (user_id, at);

CREATE TRIGGER access_log_is_append_only_update BEFORE UPDATE ON access_log
BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;
CREATE TRIGGER access_log_is_append_only_delete BEFORE DELETE ON access_log
BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;

-- "Mijn taken" for a team: open, unassigned tasks in due order.
CREATE INDEX tasks_open_unassigned ON tasks (due_at) WHERE status = 'open' AND assignee IS NULL;

-- "Cases I acted on" (the case team) and audits of one person's actions.
CREATE INDEX events_by_actor ON events (actor, case_id);
