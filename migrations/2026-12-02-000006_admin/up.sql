-- The admin audit log: every admin action and every view of an IP case file. Append-only:
-- rows cannot be deleted, and the only change allowed is erasing the IP once it is older
-- than the retention (privacy purge).
CREATE TABLE admin_audit (
    id          BIGSERIAL PRIMARY KEY,
    actor_id    BIGINT REFERENCES users (id) ON DELETE SET NULL,
    -- Kept as text so the log still reads after the actor's account is gone.
    actor_name  TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT '',
    ip          INET,
    at          TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX admin_audit_at_idx ON admin_audit (at DESC);
CREATE INDEX admin_audit_action_idx ON admin_audit (action, at DESC);

CREATE FUNCTION admin_audit_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'admin_audit is append-only';
    END IF;
    IF (NEW.ip IS DISTINCT FROM OLD.ip AND NEW.ip IS NOT NULL)
       OR (NEW.id, NEW.actor_name, NEW.action, NEW.target, NEW.detail, NEW.at)
          IS DISTINCT FROM (OLD.id, OLD.actor_name, OLD.action, OLD.target, OLD.detail, OLD.at)
       OR (NEW.actor_id IS DISTINCT FROM OLD.actor_id AND NEW.actor_id IS NOT NULL) THEN
        RAISE EXCEPTION 'admin_audit is append-only (only erasing the IP or a deleted actor is allowed)';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER admin_audit_append_only
    BEFORE UPDATE OR DELETE ON admin_audit
    FOR EACH ROW EXECUTE FUNCTION admin_audit_append_only();

-- The IP gallery reads generations (jobs, including failed and anonymous ones) and uploads
-- by client address.
CREATE INDEX generation_jobs_client_ip_idx ON generation_jobs USING gist (client_ip inet_ops);
CREATE INDEX generation_jobs_created_idx ON generation_jobs (created_at);

-- The privacy purge looks for rows still holding an address past the retention.
CREATE INDEX images_ip_age_idx ON images (created_at) WHERE client_ip IS NOT NULL;
CREATE INDEX generation_jobs_ip_age_idx ON generation_jobs (created_at) WHERE client_ip IS NOT NULL;
