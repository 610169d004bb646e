-- Honest sharing, favourites and search (issue #17).
--
-- A share link is unlisted unless its owner chose "public on Explore"; links made before
-- this choice existed said "anyone with the link", so they become unlisted. A link may
-- expire: after `share_expires_at` it answers 404 like a revoked one.
ALTER TABLE images
    ADD COLUMN share_public BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN share_expires_at TIMESTAMPTZ,
    -- Full-text search over title and prompt (the gallery's search box); not in the Rust
    -- schema, it is only ever matched against.
    ADD COLUMN search tsvector GENERATED ALWAYS AS (
        to_tsvector('english'::regconfig, title || ' ' || coalesce(prompt, ''))
    ) STORED,
    ADD CONSTRAINT images_public_share_needs_a_link
        CHECK (NOT share_public OR share_token_hash IS NOT NULL);

CREATE INDEX images_search_idx ON images USING gin (search);
DROP INDEX images_shared_idx;
CREATE INDEX images_public_idx ON images (shared_at DESC) WHERE share_public;

-- An owner's favourites: a row per starred image (it goes with the image).
CREATE TABLE favourites (
    image_id   BIGINT PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX favourites_user_idx ON favourites (user_id, created_at DESC);

-- What the camera wrote about itself (read from the pristine JPEG at upload): make, model
-- and the camera's local time. Never location.
CREATE TABLE camera_details (
    image_id BIGINT PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
    make     TEXT CHECK (char_length(make) <= 64),
    model    TEXT CHECK (char_length(model) <= 64),
    taken_at TIMESTAMP
);
