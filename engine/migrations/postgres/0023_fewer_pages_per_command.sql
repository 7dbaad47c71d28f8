-- The write path (issue 13): indexes no query needs. Open tasks are found by their roles
-- array and by assignee, not by the first role; a resident's cases by (resident, pathway),
-- whose prefix serves alone.
DROP INDEX tasks_open_by_role;
DROP INDEX cases_by_resident;
