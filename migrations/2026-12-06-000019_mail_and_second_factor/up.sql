-- Email and two-factor sign-in (SPEC §3).

-- Mail waits here until the mail server took it: a page that sends mail only adds a row,
-- and the outbox worker delivers with retries and backoff. A claimed mail's
-- `next_attempt_at` is pushed ahead first, so a worker that dies leaves it due again.
CREATE TABLE mail_outbox (
    id              BIGSERIAL PRIMARY KEY,
    to_address      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,
    html_body       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at         TIMESTAMPTZ,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL;

-- Links that confirm an address belongs to its account (new accounts, changed addresses).
CREATE TABLE email_verifications (
    token_hash BYTEA PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX email_verifications_user_idx ON email_verifications (user_id);

-- One-time recovery codes for two-factor sign-in, stored as digests.
CREATE TABLE recovery_codes (
    id        BIGSERIAL PRIMARY KEY,
    user_id   BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash BYTEA NOT NULL,
    used_at   TIMESTAMPTZ
);
CREATE INDEX recovery_codes_user_idx ON recovery_codes (user_id);

ALTER TABLE users
    ADD COLUMN email_verified_at TIMESTAMPTZ,
    -- The TOTP secret (base32), set while setting up and kept once confirmed.
    ADD COLUMN totp_secret TEXT,
    ADD COLUMN totp_enabled_at TIMESTAMPTZ,
    -- The last time step a code was accepted for: no code works twice.
    ADD COLUMN totp_last_step BIGINT;
