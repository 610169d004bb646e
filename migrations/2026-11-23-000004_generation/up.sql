-- Generation: a job queue worked by the servers themselves, and what each generated image
-- remembers about how it was made.

CREATE TABLE generation_jobs (
    id           BIGSERIAL PRIMARY KEY,
    user_id      BIGINT REFERENCES users (id) ON DELETE CASCADE,
    -- Who the job is fair between: 'user:{id}' (anonymous visitors come later).
    owner_key    TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('image', 'story', 'edit')),
    prompt       TEXT NOT NULL,
    params       JSONB NOT NULL DEFAULT '{}',
    status       TEXT NOT NULL DEFAULT 'queued'
                 CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    error        TEXT,
    client_ip    INET,
    attempts     INTEGER NOT NULL DEFAULT 0,
    -- A running job belongs to its worker until this moment; the worker renews it, and an
    -- expired lease means the worker died (the job is retried once, then failed).
    lease_until  TIMESTAMPTZ,
    image_ids    BIGINT[] NOT NULL DEFAULT '{}',
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at   TIMESTAMPTZ,
    finished_at  TIMESTAMPTZ
);
CREATE INDEX generation_jobs_queued_idx ON generation_jobs (created_at, id) WHERE status = 'queued';
CREATE INDEX generation_jobs_running_idx ON generation_jobs (owner_key) WHERE status = 'running';
CREATE INDEX generation_jobs_user_idx ON generation_jobs (user_id, created_at DESC);

ALTER TABLE images
    ADD COLUMN prompt TEXT,
    ADD COLUMN model TEXT,
    ADD COLUMN provider TEXT,
    ADD COLUMN seed BIGINT,
    ADD COLUMN job_id BIGINT REFERENCES generation_jobs (id) ON DELETE SET NULL,
    -- A prompt edit's source image.
    ADD COLUMN source_image_id BIGINT REFERENCES images (id) ON DELETE SET NULL;
CREATE INDEX images_job_idx ON images (job_id);
