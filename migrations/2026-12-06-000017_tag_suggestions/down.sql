DROP INDEX images_search_idx;
ALTER TABLE images DROP COLUMN search;
ALTER TABLE images
    ADD COLUMN search tsvector GENERATED ALWAYS AS (
        to_tsvector('english'::regconfig, title || ' ' || coalesce(prompt, ''))
    ) STORED;
CREATE INDEX images_search_idx ON images USING gin (search);
DROP FUNCTION atelier_tag_words(TEXT[]);
ALTER TABLE users DROP COLUMN tag_language, DROP COLUMN remote_tagging;
DROP INDEX generation_jobs_pending_tagging_idx;
DELETE FROM generation_jobs WHERE kind = 'tag';
ALTER TABLE generation_jobs
    DROP CONSTRAINT generation_jobs_kind_check,
    ADD CONSTRAINT generation_jobs_kind_check
        CHECK (kind IN ('image', 'story', 'edit', 'video'));
DROP TABLE tag_suggestions;
