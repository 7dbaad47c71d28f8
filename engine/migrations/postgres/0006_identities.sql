-- Accounts known to a municipal identity provider (OpenID Connect): issuer + subject.
CREATE TABLE identities (
    issuer     TEXT        NOT NULL,
    subject    TEXT        NOT NULL,
    user_id    TEXT        NOT NULL REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX identities_by_user ON identities (user_id);
