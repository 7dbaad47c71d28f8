-- Where the work of a step went when cases moved to a newer version (a coordinator's mapping,
-- recorded as cases migrate): the figures follow a renamed step into the latest version.
CREATE TABLE step_lineage (
    pathway_key  TEXT    NOT NULL,
    from_version INTEGER NOT NULL,
    from_step    TEXT    NOT NULL,
    to_version   INTEGER NOT NULL,
    to_step      TEXT    NOT NULL,
    PRIMARY KEY (pathway_key, from_version, from_step)
);
