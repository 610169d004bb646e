-- The trash: a deleted picture is kept, out of every listing and its share link ended,
-- until its owner restores it or empties the trash, or it has been there 30 days
-- (housekeeping then removes row and files). Its bytes still count against the quota.

ALTER TABLE images ADD COLUMN trashed_at timestamptz;
CREATE INDEX images_trash_idx ON images (user_id, trashed_at DESC, id DESC)
    WHERE trashed_at IS NOT NULL;
CREATE INDEX images_trash_age_idx ON images (trashed_at) WHERE trashed_at IS NOT NULL;

-- A folder's count is of the pictures it shows (not those in the trash); its bytes are
-- all that is stored there, trash included.
CREATE OR REPLACE FUNCTION atelier_count_folder_images() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.folder_id = NEW.folder_id THEN
        UPDATE folders
        SET image_count = image_count - (OLD.trashed_at IS NULL)::int + (NEW.trashed_at IS NULL)::int,
            disk_bytes = disk_bytes - OLD.disk_bytes + NEW.disk_bytes
        WHERE id = NEW.folder_id;
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE folders
        SET image_count = image_count - (OLD.trashed_at IS NULL)::int,
            disk_bytes = disk_bytes - OLD.disk_bytes
        WHERE id = OLD.folder_id;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        UPDATE folders
        SET image_count = image_count + (NEW.trashed_at IS NULL)::int,
            disk_bytes = disk_bytes + NEW.disk_bytes
        WHERE id = NEW.folder_id;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER images_count_in_folders ON images;
CREATE TRIGGER images_count_in_folders
    AFTER INSERT OR DELETE OR UPDATE OF folder_id, disk_bytes, trashed_at ON images
    FOR EACH ROW EXECUTE FUNCTION atelier_count_folder_images();

DROP TRIGGER images_bump_library ON images;
CREATE TRIGGER images_bump_library
    AFTER INSERT OR DELETE OR UPDATE OF user_id, folder_id, tags, disk_bytes, trashed_at ON images
    FOR EACH ROW EXECUTE FUNCTION atelier_bump_library_of_row();
