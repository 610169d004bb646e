-- Tell every Atelier instance when a user or session changes, whoever changed it (a page,
-- the CLI, plain SQL), so their in-process caches forget it (see src/auth/cache.rs).

CREATE FUNCTION atelier_notify_auth() RETURNS trigger AS $$
BEGIN
    IF TG_TABLE_NAME = 'users' THEN
        PERFORM pg_notify('atelier_auth', 'user:' || OLD.id);
    ELSE
        PERFORM pg_notify('atelier_auth', 'session:' || OLD.id);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER users_notify_auth
    AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION atelier_notify_auth();

CREATE TRIGGER sessions_notify_auth
    AFTER UPDATE OR DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION atelier_notify_auth();
