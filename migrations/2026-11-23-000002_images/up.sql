-- Folders and images. Files live at uploads/{username}/{folder slug}/{variant}/{stem}.{ext};
-- these rows are the only way to reach them (the image proxy refuses files without a row).

CREATE TABLE folders (
    id         BIGSERIAL PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Also the folder's directory name, so it is a path-safety rule too.
    slug       TEXT NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (user_id, slug)
);

CREATE TABLE images (
    id               BIGSERIAL PRIMARY KEY,
    user_id          BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    folder_id        BIGINT NOT NULL REFERENCES folders (id),
    kind             TEXT NOT NULL CHECK (kind IN ('upload', 'generated', 'edited')),
    -- Server-made random file name stem; each variant adds its own extension.
    stem             TEXT NOT NULL UNIQUE CHECK (stem ~ '^[0-9a-f]{32}$'),
    original_ext     TEXT NOT NULL CHECK (original_ext IN ('jpg', 'png', 'webp', 'gif')),
    thumb_ext        TEXT NOT NULL CHECK (thumb_ext IN ('jpg', 'png', 'webp', 'gif')),
    pristine_ext     TEXT NOT NULL CHECK (pristine_ext IN ('jpg', 'png', 'webp', 'gif')),
    mime             TEXT NOT NULL,
    width            INTEGER NOT NULL CHECK (width > 0),
    height           INTEGER NOT NULL CHECK (height > 0),
    -- Size of the working copy, and of all three variants together (storage used).
    bytes            BIGINT NOT NULL CHECK (bytes >= 0),
    disk_bytes       BIGINT NOT NULL CHECK (disk_bytes >= 0),
    title            TEXT NOT NULL DEFAULT '',
    tags             TEXT[] NOT NULL DEFAULT '{}',
    -- A share link exists while these are set; the token itself is never stored.
    share_nonce      BYTEA,
    share_token_hash BYTEA UNIQUE,
    shared_at        TIMESTAMPTZ,
    client_ip        INET,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((share_nonce IS NULL) = (share_token_hash IS NULL))
);
CREATE INDEX images_user_created_idx ON images (user_id, created_at DESC, id DESC);
CREATE INDEX images_folder_idx ON images (folder_id);
CREATE INDEX images_tags_idx ON images USING GIN (tags);
CREATE INDEX images_shared_idx ON images (shared_at DESC) WHERE share_token_hash IS NOT NULL;
CREATE INDEX images_client_ip_idx ON images (client_ip);
