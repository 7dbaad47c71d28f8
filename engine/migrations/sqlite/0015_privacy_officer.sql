-- The privacy officer is a role of its own. SQLite cannot change a CHECK constraint in place:
-- the users table is rebuilt with every row kept. Tokens and identities refer to users; with
-- their checks deferred to the commit, they find every user back in the rebuilt table.
PRAGMA defer_foreign_keys = ON;
CREATE TABLE users_kept AS SELECT * FROM users;
DROP TABLE users;
CREATE TABLE users (
    id            TEXT PRIMARY KEY,          -- login name
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('coordinator', 'consultant', 'manager', 'admin', 'privacy')),
    teams         TEXT NOT NULL DEFAULT '[]',  -- JSON array of role teams (wmo-consulent, ...)
    email         TEXT,
    organisation  TEXT NOT NULL,
    password_hash TEXT,                      -- argon2id PHC string; none = cannot log in locally
    active        INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL
);
INSERT INTO users (id, display_name, role, teams, email, organisation, password_hash, active, created_at)
    SELECT id, display_name, role, teams, email, organisation, password_hash, active, created_at FROM users_kept;
DROP TABLE users_kept;
