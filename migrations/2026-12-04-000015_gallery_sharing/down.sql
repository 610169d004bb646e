DROP TABLE camera_details;
DROP TABLE favourites;
DROP INDEX images_public_idx;
CREATE INDEX images_shared_idx ON images (shared_at DESC) WHERE share_token_hash IS NOT NULL;
DROP INDEX images_search_idx;
ALTER TABLE images
    DROP CONSTRAINT images_public_share_needs_a_link,
    DROP COLUMN search,
    DROP COLUMN share_expires_at,
    DROP COLUMN share_public;
