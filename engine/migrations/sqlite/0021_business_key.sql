-- A case's business key: an outside party's own reference for it (a UWV or provider case
-- number), set when the case starts, by which a message may address it. Written once, at
-- the insert, so the hot update path does not touch this index.
ALTER TABLE cases ADD COLUMN business_key TEXT;
CREATE INDEX cases_by_business_key ON cases (business_key) WHERE business_key IS NOT NULL;
