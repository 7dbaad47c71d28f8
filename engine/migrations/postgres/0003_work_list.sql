-- Work lists join each task to its case's pathway: a covering index spares reading the
-- (large) case row.
CREATE INDEX IF NOT EXISTS cases_pathway_of ON cases (id) INCLUDE (pathway_key, pathway_version);
