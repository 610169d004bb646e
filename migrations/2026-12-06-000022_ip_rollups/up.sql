-- The IP gallery's activity, summarised as it happens: generations (every job but tag
-- suggestions) and uploads, counted per address (/32, /128) and per network (/24, /64),
-- in total and per day, and the accounts seen on each. Statement-level triggers keep them
-- in the same transaction as the jobs and images they count (an insert, a delete, a purge
-- erasing addresses, an account deleted or adopting anonymous work), so the gallery reads
-- one page of groups through an index instead of aggregating everything ever generated.
-- `first_at` and `last_at` only ever widen: a deleted row does not narrow them (a group
-- whose counts reach zero is removed).

CREATE TABLE ip_activity_totals (
    net cidr PRIMARY KEY,
    -- 0: one address; 1: a /24 or /64.
    level smallint NOT NULL,
    generations bigint NOT NULL DEFAULT 0,
    uploads bigint NOT NULL DEFAULT 0,
    anonymous bigint NOT NULL DEFAULT 0,
    first_at timestamptz NOT NULL,
    last_at timestamptz NOT NULL,
    activity bigint GENERATED ALWAYS AS (generations + uploads) STORED
);
CREATE INDEX ip_totals_activity_idx ON ip_activity_totals (level, activity DESC, last_at DESC, net);
CREATE INDEX ip_totals_last_idx ON ip_activity_totals (level, last_at DESC, net);
CREATE INDEX ip_totals_first_idx ON ip_activity_totals (level, first_at, net);
CREATE INDEX ip_totals_net_idx ON ip_activity_totals (level, net);

CREATE TABLE ip_activity_days (
    net cidr NOT NULL,
    day date NOT NULL,
    level smallint NOT NULL,
    generations bigint NOT NULL DEFAULT 0,
    uploads bigint NOT NULL DEFAULT 0,
    anonymous bigint NOT NULL DEFAULT 0,
    first_at timestamptz NOT NULL,
    last_at timestamptz NOT NULL,
    PRIMARY KEY (net, day)
);
CREATE INDEX ip_days_day_idx ON ip_activity_days (level, day);

CREATE TABLE ip_activity_accounts (
    net cidr NOT NULL,
    user_id bigint NOT NULL,
    uses bigint NOT NULL,
    PRIMARY KEY (net, user_id)
);
CREATE INDEX ip_accounts_user_idx ON ip_activity_accounts (user_id, net);

-- A case file, and the gallery's strip of recent pictures, read an address's newest rows
-- in order from these (the plain address index they replace is a prefix of one).
CREATE INDEX images_ip_recent_idx ON images (client_ip, created_at DESC, id DESC)
    WHERE client_ip IS NOT NULL;
DROP INDEX images_client_ip_idx;
CREATE INDEX generation_jobs_ip_recent_idx ON generation_jobs (client_ip, created_at DESC, id DESC)
    WHERE client_ip IS NOT NULL AND kind <> 'tag';

-- Each counted row as the two groups it belongs to: its address and its /24 or /64.
CREATE FUNCTION atelier_ip_expand(
    ips inet[], ats timestamptz[], gens int[], ups int[], anons int[], users bigint[]
) RETURNS TABLE (net cidr, level smallint, at timestamptz, g int, u int, a int, user_id bigint) AS $$
    SELECT network(set_masklen(c.ip, CASE WHEN family(c.ip) = 4 THEN m.v4 ELSE m.v6 END)),
           m.level, c.at, c.g, c.u, c.a, c.user_id
    FROM unnest(ips, ats, gens, ups, anons, users) AS c(ip, at, g, u, a, user_id)
    CROSS JOIN (VALUES (0::smallint, 32, 128), (1::smallint, 24, 64)) AS m(level, v4, v6)
    WHERE c.ip IS NOT NULL
$$ LANGUAGE sql IMMUTABLE;

-- Applies signed counts: one element per job or upload, +1 added / -1 taken away. Rows
-- are written in net order, so statements running at once lock shared rows in one order.
CREATE FUNCTION atelier_ip_rollup_apply(
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

-- Jobs: every kind but tag suggestions, from the address that asked.
-- (An UPDATE trigger with transition tables cannot name columns, so it fires on every
-- update, status and progress included, and counts only the rows whose address, account,
-- anonymity or time changed.)
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

-- Uploads: pictures people sent (generated ones are counted by their job).
CREATE FUNCTION atelier_ip_rollup_uploads() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        PERFORM atelier_ip_rollup_apply(
            array_agg(o.client_ip) || array_agg(n.client_ip),
            array_agg(o.created_at) || array_agg(n.created_at),
            array_agg(0) || array_agg(0), array_agg(-1) || array_agg(1),
            array_agg(0) || array_agg(0), array_agg(o.user_id) || array_agg(n.user_id))
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE o.kind = 'upload'
          AND (o.client_ip, o.user_id, o.created_at) IS DISTINCT FROM (n.client_ip, n.user_id, n.created_at)
        HAVING count(*) > 0;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM atelier_ip_rollup_apply(
            array_agg(client_ip), array_agg(created_at), array_agg(0), array_agg(-1),
            array_agg(0), array_agg(user_id))
        FROM old_rows WHERE client_ip IS NOT NULL AND kind = 'upload' HAVING count(*) > 0;
    ELSE
        PERFORM atelier_ip_rollup_apply(
            array_agg(client_ip), array_agg(created_at), array_agg(0), array_agg(1),
            array_agg(0), array_agg(user_id))
        FROM new_rows WHERE client_ip IS NOT NULL AND kind = 'upload' HAVING count(*) > 0;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER images_ip_rollup_insert AFTER INSERT ON images
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION atelier_ip_rollup_uploads();
CREATE TRIGGER images_ip_rollup_update AFTER UPDATE ON images
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION atelier_ip_rollup_uploads();
CREATE TRIGGER images_ip_rollup_delete AFTER DELETE ON images
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION atelier_ip_rollup_uploads();

-- What is there already.
SELECT atelier_ip_rollup_apply(array_agg(client_ip), array_agg(created_at), array_agg(1),
    array_agg(0), array_agg((anon_id IS NOT NULL)::int), array_agg(user_id))
FROM generation_jobs WHERE client_ip IS NOT NULL AND kind <> 'tag' HAVING count(*) > 0;
SELECT atelier_ip_rollup_apply(array_agg(client_ip), array_agg(created_at), array_agg(0),
    array_agg(1), array_agg(0), array_agg(user_id))
FROM images WHERE client_ip IS NOT NULL AND kind = 'upload' HAVING count(*) > 0;
