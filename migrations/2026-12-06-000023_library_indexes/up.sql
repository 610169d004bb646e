-- A big library is read through indexes that start with its owner: every sort the gallery
-- offers, over the pictures not in the trash, per account and per folder, and search and
-- tags per account (btree_gin puts the owner in front of the GIN key), so a 300,000-picture
-- account's views cost what a small one's do.
CREATE EXTENSION IF NOT EXISTS btree_gin;

CREATE INDEX images_live_created_idx ON images (user_id, created_at DESC, id DESC)
    WHERE trashed_at IS NULL;
CREATE INDEX images_live_bytes_idx ON images (user_id, bytes DESC, id DESC)
    WHERE trashed_at IS NULL;
CREATE INDEX images_live_title_idx ON images (user_id, title, id)
    WHERE trashed_at IS NULL;
CREATE INDEX images_folder_created_idx ON images (folder_id, created_at DESC, id DESC);
DROP INDEX images_folder_idx;
CREATE INDEX images_user_search_idx ON images USING gin (user_id, search);
DROP INDEX images_search_idx;
CREATE INDEX images_user_tags_idx ON images USING gin (user_id, tags);
DROP INDEX images_tags_idx;
