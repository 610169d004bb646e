ALTER TABLE generation_jobs DROP COLUMN eta_secs, DROP COLUMN progress;
