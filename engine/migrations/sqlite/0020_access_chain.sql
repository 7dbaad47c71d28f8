-- The access log's hash chain: each row's hash covers the row and the hash of the row
-- before it, so a changed or removed row shows (`doorloop access-log verify`). Rows written
-- before this migration have none and are reported as from before the chain.
ALTER TABLE access_log ADD COLUMN hash TEXT;
