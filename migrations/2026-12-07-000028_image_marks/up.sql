-- What a gallery tile shows beside its picture, kept on the picture's row: whether its
-- owner starred it and how many tag suggestions wait for them. The page statement read
-- both with a probe per tile into `favourites` and `tag_suggestions`, two subplans per row
-- that cost it as much as the rest of a 24-tile page; they change when someone stars a
-- picture or a tagger proposes, far less often than pages are shown. Triggers keep them
-- in the transaction that changes the tables, which stay the record.
ALTER TABLE images
    ADD COLUMN starred boolean NOT NULL DEFAULT false,
    ADD COLUMN suggestions_waiting integer NOT NULL DEFAULT 0;
UPDATE images SET starred = true WHERE id IN (SELECT image_id FROM favourites);
UPDATE images i SET suggestions_waiting = s.waiting
FROM (SELECT image_id, count(*)::integer AS waiting FROM tag_suggestions GROUP BY image_id) s
WHERE i.id = s.image_id;

CREATE FUNCTION atelier_mark_starred() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE images SET starred = true WHERE id = NEW.image_id;
    ELSE
        UPDATE images SET starred = false WHERE id = OLD.image_id;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER favourites_mark_images AFTER INSERT OR DELETE ON favourites
    FOR EACH ROW EXECUTE FUNCTION atelier_mark_starred();

-- Per statement: a tagger proposes several tags for a picture at once.
CREATE FUNCTION atelier_count_suggestions() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE images i SET suggestions_waiting = i.suggestions_waiting + n.added
        FROM (SELECT image_id, count(*)::integer AS added FROM new_rows GROUP BY image_id) n
        WHERE i.id = n.image_id;
    ELSE
        UPDATE images i SET suggestions_waiting = i.suggestions_waiting - o.gone
        FROM (SELECT image_id, count(*)::integer AS gone FROM old_rows GROUP BY image_id) o
        WHERE i.id = o.image_id;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER tag_suggestions_count_insert AFTER INSERT ON tag_suggestions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION atelier_count_suggestions();
CREATE TRIGGER tag_suggestions_count_delete AFTER DELETE ON tag_suggestions
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION atelier_count_suggestions();
