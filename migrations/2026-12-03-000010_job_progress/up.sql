-- A running job's progress as its provider reports it (0 to 1, across all its images) and
-- the provider's estimate of the seconds left, so every instance's job page can show it.
ALTER TABLE generation_jobs
    ADD COLUMN progress REAL NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 1),
    ADD COLUMN eta_secs INTEGER CHECK (eta_secs >= 0);
