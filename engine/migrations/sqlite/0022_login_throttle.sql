-- Login throttling shared by every process on this database: per key (a hash of the client
-- address and/or account name, never the name itself) the theoretical arrival time of the
-- next attempt, in milliseconds since the epoch (GCRA). A key whose time has passed is
-- spent and is removed.
CREATE TABLE login_throttle (
    key TEXT PRIMARY KEY,
    tat BIGINT NOT NULL
);
CREATE INDEX login_throttle_by_tat ON login_throttle (tat);
