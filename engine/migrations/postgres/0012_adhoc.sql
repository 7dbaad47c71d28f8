-- Ad-hoc work ("doe wat nodig is"): its title for the work lists, and the step the case
-- stood at when it was added, for the coordinators' practice-versus-drawing figures.
ALTER TABLE tasks ADD COLUMN title TEXT;
ALTER TABLE tasks ADD COLUMN at_step TEXT;
CREATE INDEX tasks_adhoc_by_pathway ON tasks (pathway_key, at_step) WHERE step = 'adhoc';
