DROP INDEX images_job_idx;
ALTER TABLE images
    DROP COLUMN job_id,
    DROP COLUMN seed,
    DROP COLUMN provider,
    DROP COLUMN model,
    DROP COLUMN prompt;
DROP TABLE generation_jobs;
