-- Each folder keeps how many images it holds and their bytes on disk, maintained by a
-- trigger in the same transaction as the image change, so the gallery, the dashboard and
-- the storage quota read one small row per folder instead of counting the images.

ALTER TABLE folders
    ADD COLUMN image_count BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN disk_bytes BIGINT NOT NULL DEFAULT 0;

UPDATE folders SET image_count = counted.images, disk_bytes = counted.bytes
FROM (SELECT folder_id, count(*) AS images, coalesce(sum(disk_bytes), 0) AS bytes
      FROM images GROUP BY folder_id) AS counted
WHERE counted.folder_id = folders.id;

CREATE FUNCTION atelier_count_folder_images() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.folder_id = NEW.folder_id THEN
        UPDATE folders SET disk_bytes = disk_bytes - OLD.disk_bytes + NEW.disk_bytes
        WHERE id = NEW.folder_id;
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE folders SET image_count = image_count - 1, disk_bytes = disk_bytes - OLD.disk_bytes
        WHERE id = OLD.folder_id;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        UPDATE folders SET image_count = image_count + 1, disk_bytes = disk_bytes + NEW.disk_bytes
        WHERE id = NEW.folder_id;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER images_count_in_folders
    AFTER INSERT OR DELETE OR UPDATE OF folder_id, disk_bytes ON images
    FOR EACH ROW EXECUTE FUNCTION atelier_count_folder_images();
