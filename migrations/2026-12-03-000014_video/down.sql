DELETE FROM usage_events WHERE action = 'video';
ALTER TABLE usage_events
    DROP CONSTRAINT usage_events_action_check,
    ADD CONSTRAINT usage_events_action_check CHECK (action IN ('generate', 'story'));
DELETE FROM generation_jobs WHERE kind = 'video';
ALTER TABLE generation_jobs
    DROP CONSTRAINT generation_jobs_kind_check,
    ADD CONSTRAINT generation_jobs_kind_check CHECK (kind IN ('image', 'story', 'edit'));
DELETE FROM images WHERE duration_ms IS NOT NULL;
ALTER TABLE images
    DROP CONSTRAINT images_video_has_duration,
    DROP COLUMN duration_ms,
    DROP CONSTRAINT images_original_ext_check,
    DROP CONSTRAINT images_pristine_ext_check,
    ADD CONSTRAINT images_original_ext_check
        CHECK (original_ext IN ('jpg', 'png', 'webp', 'gif')),
    ADD CONSTRAINT images_pristine_ext_check
        CHECK (pristine_ext IN ('jpg', 'png', 'webp', 'gif'));
