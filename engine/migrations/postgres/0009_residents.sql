-- Residents: every case belongs to one person.

CREATE TABLE residents (
    id           TEXT        PRIMARY KEY,
    -- The reference people quote is DL- and this number (DL-000042).
    number       BIGINT      NOT NULL UNIQUE,
    given_name   TEXT        NOT NULL,
    family_name  TEXT        NOT NULL,
    birth_date   DATE,
    email        TEXT,
    phone        TEXT,
    address      TEXT,
    municipality TEXT,
    -- The BSN only encrypted (nonce + ChaCha20-Poly1305), and a keyed hash for exact lookup.
    bsn_cipher   TEXT,
    bsn_hash     TEXT        UNIQUE,
    -- Made for a case from before residents existed: who it is, is not known yet.
    unknown      BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX residents_by_birth_date ON residents (birth_date);

-- The words of each resident's name, accents folded and lower case, for prefix search.
CREATE TABLE resident_words (
    -- Byte order, so that a prefix is a range of the primary key's index.
    word        TEXT COLLATE "C" NOT NULL,
    resident_id TEXT NOT NULL REFERENCES residents (id),
    PRIMARY KEY (word, resident_id)
);
CREATE INDEX resident_words_by_resident ON resident_words (resident_id);

ALTER TABLE cases ADD COLUMN resident_id TEXT REFERENCES residents (id);

-- One resident per existing case, marked unknown, so nothing is lost.
INSERT INTO residents (id, number, given_name, family_name, unknown, created_at, updated_at)
SELECT 'onbekend-' || id, ROW_NUMBER() OVER (ORDER BY created_at, id), '', 'Onbekend', TRUE, created_at, created_at
FROM cases;
UPDATE cases SET resident_id = 'onbekend-' || id;
-- New residents take their number from a sequence (concurrent writers cannot collide).
CREATE SEQUENCE resident_numbers OWNED BY residents.number;
SELECT setval('resident_numbers', COALESCE(MAX(number), 0) + 1, false) FROM residents;
CREATE INDEX cases_by_resident ON cases (resident_id);

-- Views of residents and searches are logged too.
ALTER TABLE access_log ADD COLUMN resident_id TEXT;
ALTER TABLE access_log ADD COLUMN detail TEXT;
CREATE INDEX access_log_by_resident ON access_log (resident_id, at);
