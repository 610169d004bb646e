-- Per-network overrides of the anonymous video limit (SPEC §12 `POST /admin/limits`
-- accepts action=video beside generate, story and free_images).
ALTER TABLE limit_overrides ADD COLUMN anon_video INTEGER CHECK (anon_video >= 0);
