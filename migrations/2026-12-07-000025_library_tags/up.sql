-- Each account's live pictures per tag, kept by statement-level triggers in the same
-- transaction as every change to an image's tags, owner or trash state. The gallery's tag
-- list and a tag filter's count read these rows instead of unnesting every picture's tags
-- (140 ms for a 300,000-picture library, again after every change to it).
CREATE TABLE library_tags (
    user_id bigint NOT NULL,
    tag text NOT NULL,
    images bigint NOT NULL,
    PRIMARY KEY (user_id, tag)
);

-- Adds each live picture's tags in `added`'s rows and takes away those in `removed`'s:
-- one signed delta per (account, tag), applied in key order (so concurrent changes lock
-- rows in the same order), and rows that reach zero removed. No foreign key: the rows of
-- an account whose pictures are deleted with it reach zero in the same statement.
CREATE FUNCTION atelier_library_tags_apply(users bigint[], tag_lists text[], deltas int[])
RETURNS void AS $$
    INSERT INTO library_tags AS l (user_id, tag, images)
    SELECT c.user_id, t.tag, sum(c.delta)
    FROM unnest(users, tag_lists, deltas) AS c(user_id, tags, delta)
    CROSS JOIN LATERAL unnest(c.tags::text[]) AS t(tag)
    GROUP BY c.user_id, t.tag
    HAVING sum(c.delta) <> 0
    ORDER BY c.user_id, t.tag
    ON CONFLICT (user_id, tag) DO UPDATE SET images = l.images + excluded.images;
    DELETE FROM library_tags
    WHERE user_id = ANY (users) AND images <= 0;
$$ LANGUAGE sql;

-- A picture's tags travel as one text (a Postgres array of arrays must be rectangular).
CREATE FUNCTION atelier_library_tags() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        PERFORM atelier_library_tags_apply(
            array_agg(o.user_id) || array_agg(n.user_id),
            array_agg(o.tags::text) || array_agg(n.tags::text),
            array_agg(CASE WHEN o.trashed_at IS NULL THEN -1 ELSE 0 END)
                || array_agg(CASE WHEN n.trashed_at IS NULL THEN 1 ELSE 0 END))
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE (o.user_id, o.tags, o.trashed_at IS NULL)
              IS DISTINCT FROM (n.user_id, n.tags, n.trashed_at IS NULL)
        HAVING count(*) > 0;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM atelier_library_tags_apply(array_agg(user_id), array_agg(tags::text),
            array_agg(-1))
        FROM old_rows WHERE trashed_at IS NULL AND tags <> '{}' HAVING count(*) > 0;
    ELSE
        PERFORM atelier_library_tags_apply(array_agg(user_id), array_agg(tags::text),
            array_agg(1))
        FROM new_rows WHERE trashed_at IS NULL AND tags <> '{}' HAVING count(*) > 0;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER images_library_tags_insert AFTER INSERT ON images
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION atelier_library_tags();
CREATE TRIGGER images_library_tags_update AFTER UPDATE ON images
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION atelier_library_tags();
CREATE TRIGGER images_library_tags_delete AFTER DELETE ON images
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION atelier_library_tags();

-- What is there already.
INSERT INTO library_tags (user_id, tag, images)
SELECT user_id, tag, count(*)
FROM images CROSS JOIN LATERAL unnest(tags) AS tag
WHERE trashed_at IS NULL
GROUP BY user_id, tag;
