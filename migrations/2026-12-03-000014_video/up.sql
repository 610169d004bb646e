-- Video (SPEC §6): a video is stored like an image, in the same table, so galleries,
-- folders, shares, quotas, the admin IP gallery, export and deletion all cover it. Its
-- `pristine` is the provider's MP4 or WebM, `original` the clip served (the same stream
-- without metadata), `thumb` a JPEG poster frame; `duration_ms` is set for videos only.

ALTER TABLE images
    DROP CONSTRAINT images_original_ext_check,
    DROP CONSTRAINT images_pristine_ext_check,
    ADD CONSTRAINT images_original_ext_check
        CHECK (original_ext IN ('jpg', 'png', 'webp', 'gif', 'mp4', 'webm')),
    ADD CONSTRAINT images_pristine_ext_check
        CHECK (pristine_ext IN ('jpg', 'png', 'webp', 'gif', 'mp4', 'webm')),
    ADD COLUMN duration_ms INTEGER CHECK (duration_ms > 0),
    ADD CONSTRAINT images_video_has_duration
        CHECK ((original_ext IN ('mp4', 'webm')) = (duration_ms IS NOT NULL));

-- Video jobs share the generation queue; anonymous video uses are counted like the others.
ALTER TABLE generation_jobs
    DROP CONSTRAINT generation_jobs_kind_check,
    ADD CONSTRAINT generation_jobs_kind_check
        CHECK (kind IN ('image', 'story', 'edit', 'video'));
ALTER TABLE usage_events
    DROP CONSTRAINT usage_events_action_check,
    ADD CONSTRAINT usage_events_action_check CHECK (action IN ('generate', 'story', 'video'));
