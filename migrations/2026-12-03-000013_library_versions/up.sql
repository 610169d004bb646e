-- A version per account's library, bumped in the same transaction as any change to its
-- images (added, gone, moved, retagged, resized) or folders (added, gone, renamed). The
-- gallery reads it with the page it shows, so the folder list and tags it keeps in memory
-- are used only while they are provably current, on every instance, with no notification
-- to wait for. No foreign key: rows may be bumped while their account is being deleted.

CREATE TABLE library_versions (
    user_id BIGINT PRIMARY KEY,
    version BIGINT NOT NULL DEFAULT 0
);
INSERT INTO library_versions (user_id) SELECT id FROM users;

CREATE FUNCTION atelier_bump_library(account BIGINT) RETURNS void AS $$
    INSERT INTO library_versions (user_id, version) VALUES (account, 1)
    ON CONFLICT (user_id) DO UPDATE SET version = library_versions.version + 1;
$$ LANGUAGE sql;

CREATE FUNCTION atelier_bump_library_of_row() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM atelier_bump_library(OLD.user_id);
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.user_id <> OLD.user_id) THEN
        PERFORM atelier_bump_library(NEW.user_id);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER images_bump_library
    AFTER INSERT OR DELETE OR UPDATE OF user_id, folder_id, tags, disk_bytes ON images
    FOR EACH ROW EXECUTE FUNCTION atelier_bump_library_of_row();
CREATE TRIGGER folders_bump_library
    AFTER INSERT OR DELETE OR UPDATE OF user_id, slug, name ON folders
    FOR EACH ROW EXECUTE FUNCTION atelier_bump_library_of_row();
