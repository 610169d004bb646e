ALTER TABLE limit_overrides DROP COLUMN anon_video;
