-- The rollup function as 000022 made it (the `_anon` rows it would have kept are not
-- brought back: that account never uploads or orders in its own name).
CREATE OR REPLACE FUNCTION atelier_ip_rollup_apply(
    ips inet[], ats timestamptz[], gens int[], ups int[], anons int[], users bigint[]
) RETURNS void AS $$
DECLARE
    touched cidr[];
BEGIN
    INSERT INTO ip_activity_totals AS t (net, level, generations, uploads, anonymous, first_at, last_at)
    SELECT net, level, sum(g), sum(u), sum(a), min(at), max(at)
    FROM atelier_ip_expand(ips, ats, gens, ups, anons, users) GROUP BY net, level ORDER BY net
    ON CONFLICT (net) DO UPDATE SET
        generations = t.generations + excluded.generations,
        uploads = t.uploads + excluded.uploads,
        anonymous = t.anonymous + excluded.anonymous,
        first_at = least(t.first_at, excluded.first_at),
        last_at = greatest(t.last_at, excluded.last_at);
    INSERT INTO ip_activity_days AS d (net, day, level, generations, uploads, anonymous, first_at, last_at)
    SELECT net, (at AT TIME ZONE 'UTC')::date, level, sum(g), sum(u), sum(a), min(at), max(at)
    FROM atelier_ip_expand(ips, ats, gens, ups, anons, users)
    GROUP BY net, (at AT TIME ZONE 'UTC')::date, level ORDER BY 1, 2
    ON CONFLICT (net, day) DO UPDATE SET
        generations = d.generations + excluded.generations,
        uploads = d.uploads + excluded.uploads,
        anonymous = d.anonymous + excluded.anonymous,
        first_at = least(d.first_at, excluded.first_at),
        last_at = greatest(d.last_at, excluded.last_at);
    INSERT INTO ip_activity_accounts AS x (net, user_id, uses)
    SELECT net, user_id, sum(g + u) FROM atelier_ip_expand(ips, ats, gens, ups, anons, users)
    WHERE user_id IS NOT NULL GROUP BY net, user_id ORDER BY 1, 2
    ON CONFLICT (net, user_id) DO UPDATE SET uses = x.uses + excluded.uses;

    IF EXISTS (SELECT 1 FROM unnest(gens, ups) AS c(g, u) WHERE g < 0 OR u < 0) THEN
        SELECT array_agg(DISTINCT net) INTO touched
        FROM atelier_ip_expand(ips, ats, gens, ups, anons, users);
        DELETE FROM ip_activity_totals
        WHERE net = ANY (touched) AND generations <= 0 AND uploads <= 0;
        DELETE FROM ip_activity_days
        WHERE net = ANY (touched) AND generations <= 0 AND uploads <= 0;
        DELETE FROM ip_activity_accounts WHERE net = ANY (touched) AND uses <= 0;
    END IF;
END;
$$ LANGUAGE plpgsql;
DROP INDEX ip_accounts_top_idx;
ALTER TABLE ip_activity_totals DROP COLUMN accounts;
DROP INDEX ip_days_window_idx;
ALTER TABLE ip_activity_days
    ALTER COLUMN generations TYPE bigint,
    ALTER COLUMN uploads TYPE bigint,
    ALTER COLUMN anonymous TYPE bigint;
CREATE INDEX ip_days_day_idx ON ip_activity_days (level, day);
DROP INDEX images_ip_prefix_recent_idx;
DROP FUNCTION atelier_ip_prefix(inet);
