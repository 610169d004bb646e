-- Who may join and getting back in (SPEC §3). Tokens are stored as SHA-256 digests only;
-- the link holding the token is shown once.

-- Invitations an admin makes when registration is by invite: single use, optionally for
-- one email address, with an expiry; `used_by` says who joined with it.
CREATE TABLE invites (
    id         BIGSERIAL PRIMARY KEY,
    token_hash BYTEA NOT NULL UNIQUE,
    email      TEXT,
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    used_by    BIGINT REFERENCES users (id) ON DELETE SET NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX invites_created_idx ON invites (created_at DESC);

-- One-time links that set a new password (made by an admin or the CLI, later mailed).
CREATE TABLE password_resets (
    token_hash BYTEA PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX password_resets_user_idx ON password_resets (user_id);

-- Set when someone else reset the password; the next sign-in says so and clears it.
ALTER TABLE users ADD COLUMN password_reset_notice BOOLEAN NOT NULL DEFAULT false;
