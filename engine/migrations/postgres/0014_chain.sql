-- The chain: the organisations of a region, and on what ground each may process the data of
-- a case. The municipality a resident lives in processes their cases as its legal task and
-- needs no row here; every other organisation does.

CREATE TABLE organisations (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('gemeente', 'zorgaanbieder', 'sw-bedrijf', 'uwv', 'regio'))
);

-- An installation from before served one organisation: its people's organisations and its
-- residents' municipalities become municipalities.
INSERT INTO organisations (id, name, kind)
    SELECT DISTINCT organisation, organisation, 'gemeente' FROM users WHERE organisation <> '';
INSERT INTO organisations (id, name, kind)
    SELECT DISTINCT municipality, 'Gemeente ' || municipality, 'gemeente' FROM residents
    WHERE municipality IS NOT NULL AND municipality <> ''
      AND municipality NOT IN (SELECT id FROM organisations);

CREATE TABLE case_parties (
    id               TEXT PRIMARY KEY,
    case_id          TEXT NOT NULL REFERENCES cases (id),
    organisation     TEXT NOT NULL REFERENCES organisations (id),
    ground           TEXT NOT NULL CHECK (ground IN ('wettelijke-taak', 'toestemming')),
    purpose          TEXT NOT NULL,
    reference        TEXT,
    since            TIMESTAMPTZ NOT NULL,
    recorded_by      TEXT NOT NULL,
    withdrawn_at     TIMESTAMPTZ,
    withdrawn_by     TEXT,
    withdrawn_reason TEXT
);
-- One active ground per case and organisation.
CREATE UNIQUE INDEX case_parties_active ON case_parties (case_id, organisation) WHERE withdrawn_at IS NULL;
CREATE INDEX case_parties_by_organisation ON case_parties (organisation, case_id) WHERE withdrawn_at IS NULL;

-- What every organisation of the old installation saw, it keeps seeing: one row per case and
-- organisation, so nobody loses work by the upgrade.
INSERT INTO case_parties (id, case_id, organisation, ground, purpose, since, recorded_by)
    SELECT 'migratie-' || c.id || '-' || o.id, c.id, o.id, 'wettelijke-taak',
           'Bestaande casus, van voor de regio', c.created_at, 'systeem'
    FROM cases c CROSS JOIN (SELECT DISTINCT organisation AS id FROM users WHERE organisation <> '') o;
