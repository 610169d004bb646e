-- Addresses back in `images`, counted by the triggers 000022 made.
ALTER TABLE images ADD COLUMN client_ip inet;
UPDATE images i SET client_ip = o.client_ip FROM image_origins o WHERE o.image_id = i.id;
DROP TABLE image_origins;
DROP FUNCTION atelier_ip_rollup_origins();
CREATE INDEX images_ip_age_idx ON images (created_at) WHERE client_ip IS NOT NULL;
CREATE INDEX images_ip_recent_idx ON images (client_ip, created_at DESC, id DESC)
    WHERE client_ip IS NOT NULL;
CREATE INDEX images_ip_prefix_recent_idx
    ON images (atelier_ip_prefix(client_ip), created_at DESC, id DESC)
    WHERE client_ip IS NOT NULL;

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
