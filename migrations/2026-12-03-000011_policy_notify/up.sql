-- Tell every instance when blocks, limit overrides or the admin-added disposable domains
-- change, so the in-memory policy (src/quota/policy.rs) reloads before its next check.
-- One notification per statement: a bulk change reloads once. PostgreSQL folds identical
-- payloads sent in one transaction into one.

CREATE FUNCTION atelier_notify_policy() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('atelier_auth', 'policy:0');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER ip_blocks_notify_policy
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ip_blocks
    FOR EACH STATEMENT EXECUTE FUNCTION atelier_notify_policy();
CREATE TRIGGER limit_overrides_notify_policy
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON limit_overrides
    FOR EACH STATEMENT EXECUTE FUNCTION atelier_notify_policy();
CREATE TRIGGER disposable_domains_notify_policy
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON disposable_domains
    FOR EACH STATEMENT EXECUTE FUNCTION atelier_notify_policy();
