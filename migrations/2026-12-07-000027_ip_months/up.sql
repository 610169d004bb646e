-- A window of days that spans whole months sums one row per group and month for them
-- (and days only at the window's ragged ends): a group active every day of a busy season
-- otherwise brings a row for each of those days, and the window's cost grows with how
-- busy the season was rather than with how many groups it shows.
CREATE TABLE ip_activity_months (
    net cidr NOT NULL,
    -- The first day of the month (UTC).
    month date NOT NULL,
    level smallint NOT NULL,
    generations integer NOT NULL DEFAULT 0,
    uploads integer NOT NULL DEFAULT 0,
    anonymous integer NOT NULL DEFAULT 0,
    first_at timestamptz NOT NULL,
    last_at timestamptz NOT NULL,
    PRIMARY KEY (net, month)
);
CREATE INDEX ip_months_window_idx ON ip_activity_months (level, month)
    INCLUDE (net, generations, uploads, anonymous, first_at, last_at);
INSERT INTO ip_activity_months (net, month, level, generations, uploads, anonymous, first_at, last_at)
SELECT net, date_trunc('month', day)::date, level, sum(generations), sum(uploads), sum(anonymous),
       min(first_at), max(last_at)
FROM ip_activity_days GROUP BY 1, 2, 3 ORDER BY 1, 2;

-- The rollups as 000024 made them, and the months beside the days.
CREATE OR REPLACE FUNCTION atelier_ip_rollup_apply(
    ips inet[], ats timestamptz[], gens int[], ups int[], anons int[], users bigint[]
) RETURNS void AS $$
DECLARE
    touched cidr[];
    anonymous_holder bigint := (SELECT id FROM users WHERE username = '_anon');
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
    INSERT INTO ip_activity_months AS d (net, month, level, generations, uploads, anonymous, first_at, last_at)
    SELECT net, date_trunc('month', at AT TIME ZONE 'UTC')::date, level, sum(g), sum(u), sum(a), min(at), max(at)
    FROM atelier_ip_expand(ips, ats, gens, ups, anons, users)
    GROUP BY net, date_trunc('month', at AT TIME ZONE 'UTC')::date, level ORDER BY 1, 2
    ON CONFLICT (net, month) DO UPDATE SET
        generations = d.generations + excluded.generations,
        uploads = d.uploads + excluded.uploads,
        anonymous = d.anonymous + excluded.anonymous,
        first_at = least(d.first_at, excluded.first_at),
        last_at = greatest(d.last_at, excluded.last_at);
    -- A pair seen for the first time is a row inserted (`xmax = 0`), not one updated: each
    -- adds an account to its group's count (whose row this statement has locked already).
    WITH seen AS (
        INSERT INTO ip_activity_accounts AS x (net, user_id, uses)
        SELECT net, user_id, sum(g + u) FROM atelier_ip_expand(ips, ats, gens, ups, anons, users)
        WHERE user_id IS NOT NULL AND user_id IS DISTINCT FROM anonymous_holder
        GROUP BY net, user_id ORDER BY 1, 2
        ON CONFLICT (net, user_id) DO UPDATE SET uses = x.uses + excluded.uses
        RETURNING net, xmax = 0 AS first_time)
    UPDATE ip_activity_totals t SET accounts = t.accounts + s.accounts
    FROM (SELECT net, count(*) AS accounts FROM seen WHERE first_time GROUP BY net) s
    WHERE t.net = s.net;

    IF EXISTS (SELECT 1 FROM unnest(gens, ups) AS c(g, u) WHERE g < 0 OR u < 0) THEN
        SELECT array_agg(DISTINCT net) INTO touched
        FROM atelier_ip_expand(ips, ats, gens, ups, anons, users);
        WITH gone AS (
            DELETE FROM ip_activity_accounts WHERE net = ANY (touched) AND uses <= 0
            RETURNING net)
        UPDATE ip_activity_totals t SET accounts = t.accounts - g.accounts
        FROM (SELECT net, count(*) AS accounts FROM gone GROUP BY net) g
        WHERE t.net = g.net;
        DELETE FROM ip_activity_totals
        WHERE net = ANY (touched) AND generations <= 0 AND uploads <= 0;
        DELETE FROM ip_activity_days
        WHERE net = ANY (touched) AND generations <= 0 AND uploads <= 0;
        DELETE FROM ip_activity_months
        WHERE net = ANY (touched) AND generations <= 0 AND uploads <= 0;
    END IF;
END;
$$ LANGUAGE plpgsql;
