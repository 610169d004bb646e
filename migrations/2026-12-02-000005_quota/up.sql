-- Abuse controls: anonymous visitors' images, rolling-window usage events, the credit
-- ledger, per-network free-image allowances, disposable email domains, IP blocks and
-- per-network limit overrides.

-- Anonymous visitors' images belong to this reserved account (it cannot log in: disabled,
-- and no password hashes to '!'), one folder per visitor named by the visitor's random
-- anonymous id, so they live under uploads/_anon/{anon-id}/ like any other image.
INSERT INTO users (username, email, password_hash, role, disabled)
VALUES ('_anon', 'anonymous@invalid', '!', 'user', TRUE);

-- Anonymous jobs have no user; they belong to the visitor's session.
ALTER TABLE generation_jobs ADD COLUMN anon_id TEXT;
CREATE INDEX generation_jobs_anon_idx ON generation_jobs (anon_id) WHERE anon_id IS NOT NULL;

-- One row per limited use (anonymous generate/story), counted per IP key and action
-- over a rolling window under a transaction-scoped advisory lock on (key, action).
CREATE TABLE usage_events (
    id       BIGSERIAL PRIMARY KEY,
    -- NULL once the privacy purge has erased it (the row stays for the counts).
    ip_key   INET,
    action   TEXT NOT NULL CHECK (action IN ('generate', 'story')),
    client_ip INET,
    at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX usage_events_key_idx ON usage_events (ip_key, action, at);

-- Every change of a balance, written in the transaction that changes it.
CREATE TABLE credit_ledger (
    id            BIGSERIAL PRIMARY KEY,
    -- NULL once the account is deleted (the row stays, anonymised).
    user_id       BIGINT REFERENCES users (id) ON DELETE SET NULL,
    delta         BIGINT NOT NULL,
    balance_after BIGINT NOT NULL CHECK (balance_after >= 0),
    reason        TEXT NOT NULL CHECK (reason IN ('signup', 'grant', 'charge', 'refund')),
    -- Deferred: a charge is written before its job row, in the same transaction.
    job_id        BIGINT REFERENCES generation_jobs (id) ON DELETE SET NULL
                  DEFERRABLE INITIALLY DEFERRED,
    actor_id      BIGINT REFERENCES users (id) ON DELETE SET NULL,
    note          TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX credit_ledger_user_idx ON credit_ledger (user_id, created_at DESC);

-- Free images taken per IP key, shared by every account on that network.
CREATE TABLE free_image_allowances (
    ip_key     INET PRIMARY KEY,
    used       INTEGER NOT NULL DEFAULT 0 CHECK (used >= 0),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Disposable email domains added by admins (the shipped list is compiled in).
CREATE TABLE disposable_domains (
    domain     TEXT PRIMARY KEY CHECK (domain = lower(domain)),
    added_by   BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

ALTER TABLE images
    ADD COLUMN credits_used INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN free BOOLEAN NOT NULL DEFAULT FALSE;

-- Blocked addresses and ranges. Rows are never deleted: lifting a block stamps it, so the
-- history of an address stays readable.
CREATE TABLE ip_blocks (
    id         BIGSERIAL PRIMARY KEY,
    network    CIDR NOT NULL,
    reason     TEXT NOT NULL,
    expires_at TIMESTAMPTZ,
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    lifted_at  TIMESTAMPTZ,
    lifted_by  BIGINT REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX ip_blocks_active_idx ON ip_blocks USING gist (network inet_ops) WHERE lifted_at IS NULL;

-- Per-network limits replacing the defaults (NULL: keep the default). The most specific
-- live override covering an address wins.
CREATE TABLE limit_overrides (
    id              BIGSERIAL PRIMARY KEY,
    network         CIDR NOT NULL UNIQUE,
    anon_generate   INTEGER CHECK (anon_generate >= 0),
    anon_story      INTEGER CHECK (anon_story >= 0),
    free_images     INTEGER CHECK (free_images >= 0),
    reason          TEXT NOT NULL DEFAULT '',
    expires_at      TIMESTAMPTZ,
    created_by      BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
