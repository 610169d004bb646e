ALTER TABLE users DROP COLUMN password_reset_notice;
DROP TABLE password_resets;
DROP TABLE invites;
