-- The write path (issue 13). SQLite evaluates a CHECK of the form `x IN ('a', 'b', 'c')`
-- (three values or more) by building a temporary b-tree of the values: on every INSERT and
-- upsert of `cases`, `tasks`, `timers` and `outbox`, each such CHECK allocated a b-tree, a
-- page cache and a zeroed 4 KB page, and freed them again (about 150,000 instructions per
-- command, a tenth of the whole command; BENCHMARKS.md). The same rule written as
-- `x = 'a' OR x = 'b' OR x = 'c'` is a few comparisons.
--
-- The rule is the same, so no stored row can break it, and the table's content on disk does
-- not change: this is the procedure SQLite documents for changing a CHECK constraint without
-- rebuilding the table (https://sqlite.org/lang_altertable.html, "writable_schema"), which
-- also keeps the foreign keys that point at `cases` untouched.
PRAGMA writable_schema = ON;

UPDATE sqlite_schema
SET sql = replace(sql, 'CHECK (status IN (''active'', ''ended'', ''withdrawn''))',
                       'CHECK (status = ''active'' OR status = ''ended'' OR status = ''withdrawn'')')
WHERE type = 'table' AND name = 'cases';

UPDATE sqlite_schema
SET sql = replace(sql, 'CHECK (status IN (''open'', ''done'', ''closed''))',
                       'CHECK (status = ''open'' OR status = ''done'' OR status = ''closed'')')
WHERE type = 'table' AND name = 'tasks';

UPDATE sqlite_schema
SET sql = replace(sql, 'CHECK (status IN (''pending'', ''fired'', ''cancelled''))',
                       'CHECK (status = ''pending'' OR status = ''fired'' OR status = ''cancelled'')')
WHERE type = 'table' AND name = 'timers';

UPDATE sqlite_schema
SET sql = replace(replace(replace(sql,
        'CHECK (recipient_type IN (''role'', ''user'', ''address'', ''resident'', ''webhook''))',
        'CHECK (recipient_type = ''role'' OR recipient_type = ''user'' OR recipient_type = ''address'''
            || ' OR recipient_type = ''resident'' OR recipient_type = ''webhook'')'),
        'CHECK (channel IN (''email'', ''webhook'', ''log''))',
        'CHECK (channel = ''email'' OR channel = ''webhook'' OR channel = ''log'')'),
        'CHECK (status IN (''pending'', ''sending'', ''sent'', ''dead'', ''expanded''))',
        'CHECK (status = ''pending'' OR status = ''sending'' OR status = ''sent'' OR status = ''dead'''
            || ' OR status = ''expanded'')')
WHERE type = 'table' AND name = 'outbox';

-- Reload the schema on this connection ("RESET" also turns writing the schema off again)
-- and bump the schema's version with one statement that changes it, so every other open
-- connection reloads it too.
PRAGMA writable_schema = RESET;
CREATE VIEW schema_bump_0024 AS SELECT 1;
DROP VIEW schema_bump_0024;
