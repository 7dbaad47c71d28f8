-- The privacy officer is a role of its own.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('coordinator', 'consultant', 'manager', 'admin', 'privacy'));
