-- Accounts, server-side sessions and the failed-login log.

CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    -- Case-folded on the way in; also the user's folder name under uploads/.
    username      TEXT NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9_-]{3,32}$'),
    -- Lower-cased on the way in, so uniqueness is case-insensitive.
    email         TEXT NOT NULL UNIQUE CHECK (email = lower(email)),
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    tier          TEXT NOT NULL DEFAULT 'standard' CHECK (tier IN ('standard', 'plus')),
    credits       BIGINT NOT NULL DEFAULT 0 CHECK (credits >= 0),
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per actix-session session. The cookie carries a random key; only its
-- SHA-256 is stored, so a copy of this table cannot be replayed as cookies.
CREATE TABLE sessions (
    id           BIGSERIAL PRIMARY KEY,
    key_hash     BYTEA NOT NULL UNIQUE,
    user_id      BIGINT REFERENCES users (id) ON DELETE CASCADE,
    state        JSONB NOT NULL,
    ip           INET,
    user_agent   TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- Failed (and in-flight) login attempts, counted per client-IP key and per account
-- over a rolling window.
CREATE TABLE login_failures (
    id          BIGSERIAL PRIMARY KEY,
    ip_key      INET NOT NULL,
    account_key TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX login_failures_ip_idx ON login_failures (ip_key, at);
CREATE INDEX login_failures_account_idx ON login_failures (account_key, at);
