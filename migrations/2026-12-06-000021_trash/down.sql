DROP TRIGGER images_bump_library ON images;
CREATE TRIGGER images_bump_library
    AFTER INSERT OR DELETE OR UPDATE OF user_id, folder_id, tags, disk_bytes ON images
    FOR EACH ROW EXECUTE FUNCTION atelier_bump_library_of_row();
DROP TRIGGER images_count_in_folders ON images;
DELETE FROM images WHERE trashed_at IS NOT NULL;
ALTER TABLE images DROP COLUMN trashed_at;
CREATE OR REPLACE FUNCTION atelier_count_folder_images() RETURNS trigger AS $$
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
