-- Addresses back in `generation_jobs`, counted by a trigger on it as 000022 made it.
ALTER TABLE generation_jobs ADD COLUMN client_ip inet;
UPDATE generation_jobs j SET client_ip = o.client_ip FROM job_origins o WHERE o.job_id = j.id;
DROP TABLE job_origins;
DROP FUNCTION atelier_ip_rollup_job_origins();
CREATE INDEX generation_jobs_client_ip_idx ON generation_jobs USING gist (client_ip inet_ops);
CREATE INDEX generation_jobs_ip_age_idx ON generation_jobs (created_at) WHERE client_ip IS NOT NULL;
CREATE INDEX generation_jobs_ip_recent_idx ON generation_jobs (client_ip, created_at DESC, id DESC)
    WHERE client_ip IS NOT NULL AND kind <> 'tag';

CREATE FUNCTION atelier_ip_rollup_jobs() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        PERFORM atelier_ip_rollup_apply(
            array_agg(o.client_ip) || array_agg(n.client_ip),
            array_agg(o.created_at) || array_agg(n.created_at),
            array_agg(-1) || array_agg(1), array_agg(0) || array_agg(0),
            array_agg(-(o.anon_id IS NOT NULL)::int) || array_agg((n.anon_id IS NOT NULL)::int),
            array_agg(o.user_id) || array_agg(n.user_id))
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE o.kind <> 'tag' AND (o.client_ip, o.user_id, o.anon_id IS NULL, o.created_at)
              IS DISTINCT FROM (n.client_ip, n.user_id, n.anon_id IS NULL, n.created_at)
        HAVING count(*) > 0;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM atelier_ip_rollup_apply(
            array_agg(client_ip), array_agg(created_at), array_agg(-1), array_agg(0),
            array_agg(-(anon_id IS NOT NULL)::int), array_agg(user_id))
        FROM old_rows WHERE client_ip IS NOT NULL AND kind <> 'tag' HAVING count(*) > 0;
    ELSE
        PERFORM atelier_ip_rollup_apply(
            array_agg(client_ip), array_agg(created_at), array_agg(1), array_agg(0),
            array_agg((anon_id IS NOT NULL)::int), array_agg(user_id))
        FROM new_rows WHERE client_ip IS NOT NULL AND kind <> 'tag' HAVING count(*) > 0;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER jobs_ip_rollup_insert AFTER INSERT ON generation_jobs
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION atelier_ip_rollup_jobs();
CREATE TRIGGER jobs_ip_rollup_update AFTER UPDATE ON generation_jobs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION atelier_ip_rollup_jobs();
CREATE TRIGGER jobs_ip_rollup_delete AFTER DELETE ON generation_jobs
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION atelier_ip_rollup_jobs();
