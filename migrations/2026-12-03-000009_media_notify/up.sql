-- Tell every instance when an image row changes or goes (an edit, a move, a share change,
-- a delete), so its proxy stops serving the cached row and bytes at once, as sessions do
-- (see src/auth/cache.rs; the payload is `image:{id}` on the same channel).

CREATE FUNCTION atelier_notify_image() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('atelier_auth', 'image:' || OLD.id);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER images_notify_media
    AFTER UPDATE OR DELETE ON images
    FOR EACH ROW EXECUTE FUNCTION atelier_notify_image();
