-- Where a generation job was asked from, kept beside it rather than in it, as
-- `image_origins` does for pictures (000026). In `generation_jobs` the address was in three
-- indexes, so erasing it was never a HOT update: each job purged wrote a new copy of a wide
-- row and entries into four of the table's indexes, a million old jobs were 70 % of a
-- purge's time and most of its WAL, and uploads committing meanwhile waited behind its
-- flushes. Here erasing an address is deleting a narrow row, and a job's status and
-- progress updates no longer run the rollup trigger. The IP gallery's case files, the
-- overview's top addresses, an account's addresses and the job rollups read this table.
CREATE TABLE job_origins (
    job_id bigint PRIMARY KEY REFERENCES generation_jobs (id) ON DELETE CASCADE,
    -- The job's account, as in `generation_jobs` (kept in step by `job::adopt_anonymous`);
    -- none for a visitor who has not signed in.
    user_id bigint,
    client_ip inet NOT NULL,
    -- Asked by a visitor without an account (the job has an `anon_id`).
    anonymous boolean NOT NULL,
    -- A tag job: an account's own address, never counted nor shown in case files.
    tagging boolean NOT NULL,
    created_at timestamptz NOT NULL
);
INSERT INTO job_origins (job_id, user_id, client_ip, anonymous, tagging, created_at)
SELECT id, user_id, client_ip, anon_id IS NOT NULL, kind = 'tag', created_at
FROM generation_jobs WHERE client_ip IS NOT NULL ORDER BY id;
-- An address's or a network's newest jobs (case files, footprints; `<<=` is a range of
-- this index), what retention erases, an account's addresses.
CREATE INDEX job_origins_ip_recent_idx ON job_origins (client_ip, created_at DESC, job_id DESC)
    WHERE NOT tagging;
CREATE INDEX job_origins_ip_idx ON job_origins (client_ip) WHERE tagging;
CREATE INDEX job_origins_age_idx ON job_origins (created_at);
CREATE INDEX job_origins_user_idx ON job_origins (user_id);

DROP TRIGGER jobs_ip_rollup_insert ON generation_jobs;
DROP TRIGGER jobs_ip_rollup_update ON generation_jobs;
DROP TRIGGER jobs_ip_rollup_delete ON generation_jobs;
DROP FUNCTION atelier_ip_rollup_jobs();
DROP INDEX generation_jobs_client_ip_idx;
DROP INDEX generation_jobs_ip_age_idx;
DROP INDEX generation_jobs_ip_recent_idx;
ALTER TABLE generation_jobs DROP COLUMN client_ip;

-- Jobs, counted by their origin: added, erased (retention, a job deleted), or handed to
-- the account a visitor signed in to.
CREATE FUNCTION atelier_ip_rollup_job_origins() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        PERFORM atelier_ip_rollup_apply(
            array_agg(o.client_ip) || array_agg(n.client_ip),
            array_agg(o.created_at) || array_agg(n.created_at),
            array_agg(-1) || array_agg(1), array_agg(0) || array_agg(0),
            array_agg(-o.anonymous::int) || array_agg(n.anonymous::int),
            array_agg(o.user_id) || array_agg(n.user_id))
        FROM old_rows o JOIN new_rows n ON n.job_id = o.job_id
        WHERE NOT o.tagging
          AND (o.client_ip, o.user_id, o.anonymous, o.created_at)
              IS DISTINCT FROM (n.client_ip, n.user_id, n.anonymous, n.created_at)
        HAVING count(*) > 0;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM atelier_ip_rollup_apply(
            array_agg(client_ip), array_agg(created_at), array_agg(-1), array_agg(0),
            array_agg(-anonymous::int), array_agg(user_id))
        FROM old_rows WHERE NOT tagging HAVING count(*) > 0;
    ELSE
        PERFORM atelier_ip_rollup_apply(
            array_agg(client_ip), array_agg(created_at), array_agg(1), array_agg(0),
            array_agg(anonymous::int), array_agg(user_id))
        FROM new_rows WHERE NOT tagging HAVING count(*) > 0;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER job_origins_ip_rollup_insert AFTER INSERT ON job_origins
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION atelier_ip_rollup_job_origins();
CREATE TRIGGER job_origins_ip_rollup_update AFTER UPDATE ON job_origins
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION atelier_ip_rollup_job_origins();
CREATE TRIGGER job_origins_ip_rollup_delete AFTER DELETE ON job_origins
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION atelier_ip_rollup_job_origins();
