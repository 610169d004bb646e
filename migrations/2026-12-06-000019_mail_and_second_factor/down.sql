ALTER TABLE users
    DROP COLUMN totp_last_step,
    DROP COLUMN totp_enabled_at,
    DROP COLUMN totp_secret,
    DROP COLUMN email_verified_at;
DROP TABLE recovery_codes;
DROP TABLE email_verifications;
DROP TABLE mail_outbox;
