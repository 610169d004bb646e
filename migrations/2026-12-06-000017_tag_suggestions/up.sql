-- AI tagging (SPEC §14): a tagger suggests, the owner accepts. Suggestions live beside the
-- image, never in its tags, each with how sure the tagger was and which tagger it was.
CREATE TABLE tag_suggestions (
    image_id   BIGINT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    tag        TEXT NOT NULL CHECK (char_length(tag) BETWEEN 1 AND 32),
    confidence REAL NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
    -- The tagger and model, e.g. "builtin" or "openai:llava".
    source     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (image_id, tag)
);

-- Tagging jobs share the generation queue. The image page asks whether one is still at
-- work on its picture: answered from the few unfinished tagging jobs, never the history.
ALTER TABLE generation_jobs
    DROP CONSTRAINT generation_jobs_kind_check,
    ADD CONSTRAINT generation_jobs_kind_check
        CHECK (kind IN ('image', 'story', 'edit', 'video', 'tag'));
CREATE INDEX generation_jobs_pending_tagging_idx
    ON generation_jobs (((params ->> 'image_id')::bigint))
    WHERE kind = 'tag' AND status IN ('queued', 'running');

-- A remote tagger sees an account's pictures only once its owner said yes; the language
-- the model is asked to answer in.
ALTER TABLE users
    ADD COLUMN remote_tagging BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN tag_language TEXT NOT NULL DEFAULT 'English'
        CHECK (char_length(tag_language) BETWEEN 1 AND 40);

-- Search matches tags as well as title and prompt. array_to_string is only STABLE, so a
-- generated column needs this IMMUTABLE wrapper (text[] output does not depend on settings).
CREATE FUNCTION atelier_tag_words(tags TEXT[]) RETURNS TEXT
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT coalesce(array_to_string(tags, ' '), '') $$;
DROP INDEX images_search_idx;
ALTER TABLE images DROP COLUMN search;
ALTER TABLE images
    ADD COLUMN search tsvector GENERATED ALWAYS AS (
        to_tsvector('english'::regconfig,
            title || ' ' || coalesce(prompt, '') || ' ' || atelier_tag_words(tags))
    ) STORED;
CREATE INDEX images_search_idx ON images USING gin (search);
