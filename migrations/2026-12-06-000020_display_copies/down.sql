ALTER TABLE images DROP COLUMN display_ext;
