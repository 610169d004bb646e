-- Where a picture came from, kept beside it rather than in it: the address an upload or a
-- generation was sent from, until retention erases it. In `images` the address was an
-- indexed column, so erasing it could never be a HOT update: each picture purged wrote a
-- new entry into every one of the table's indexes, and a purge of a million old pictures
-- wrote gigabytes of WAL while uploads waited behind it to commit. Here erasing an
-- address is deleting a narrow row. The IP gallery's strips, case files, an account's
-- addresses and the upload rollups read this table.
CREATE TABLE image_origins (
    image_id bigint PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
    -- The picture's owner and time, as in `images` (kept in step by `Image::reassign`):
    -- what the rollups count an upload under.
    user_id bigint NOT NULL,
    client_ip inet NOT NULL,
    upload boolean NOT NULL,
    created_at timestamptz NOT NULL
);
INSERT INTO image_origins (image_id, user_id, client_ip, upload, created_at)
SELECT id, user_id, client_ip, kind = 'upload', created_at
FROM images WHERE client_ip IS NOT NULL ORDER BY id;
-- An address's newest pictures (case files, one address's strip), a /24's or /64's
-- (the gallery's strip by network), what retention erases, an account's addresses.
CREATE INDEX image_origins_ip_recent_idx ON image_origins (client_ip, created_at DESC, image_id DESC);
CREATE INDEX image_origins_prefix_recent_idx
    ON image_origins (atelier_ip_prefix(client_ip), created_at DESC, image_id DESC);
CREATE INDEX image_origins_age_idx ON image_origins (created_at);
CREATE INDEX image_origins_user_idx ON image_origins (user_id);

DROP TRIGGER images_ip_rollup_insert ON images;
DROP TRIGGER images_ip_rollup_update ON images;
DROP TRIGGER images_ip_rollup_delete ON images;
DROP FUNCTION atelier_ip_rollup_uploads();
DROP INDEX images_ip_recent_idx;
DROP INDEX images_ip_prefix_recent_idx;
DROP INDEX images_ip_age_idx;
ALTER TABLE images DROP COLUMN client_ip;

-- Uploads, counted by their origin: added, erased (retention, a picture deleted), or
-- moved to another account or address.
CREATE FUNCTION atelier_ip_rollup_origins() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        PERFORM atelier_ip_rollup_apply(
            array_agg(o.client_ip) || array_agg(n.client_ip),
            array_agg(o.created_at) || array_agg(n.created_at),
            array_agg(0) || array_agg(0),
            array_agg(-o.upload::int) || array_agg(n.upload::int),
            array_agg(0) || array_agg(0), array_agg(o.user_id) || array_agg(n.user_id))
        FROM old_rows o JOIN new_rows n ON n.image_id = o.image_id
        WHERE (o.upload OR n.upload)
          AND (o.client_ip, o.user_id, o.created_at, o.upload)
              IS DISTINCT FROM (n.client_ip, n.user_id, n.created_at, n.upload)
        HAVING count(*) > 0;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM atelier_ip_rollup_apply(
            array_agg(client_ip), array_agg(created_at), array_agg(0), array_agg(-1),
            array_agg(0), array_agg(user_id))
        FROM old_rows WHERE upload HAVING count(*) > 0;
    ELSE
        PERFORM atelier_ip_rollup_apply(
            array_agg(client_ip), array_agg(created_at), array_agg(0), array_agg(1),
            array_agg(0), array_agg(user_id))
        FROM new_rows WHERE upload HAVING count(*) > 0;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER image_origins_ip_rollup_insert AFTER INSERT ON image_origins
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION atelier_ip_rollup_origins();
CREATE TRIGGER image_origins_ip_rollup_update AFTER UPDATE ON image_origins
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION atelier_ip_rollup_origins();
CREATE TRIGGER image_origins_ip_rollup_delete AFTER DELETE ON image_origins
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION atelier_ip_rollup_origins();
