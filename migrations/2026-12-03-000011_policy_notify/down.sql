DROP TRIGGER disposable_domains_notify_policy ON disposable_domains;
DROP TRIGGER limit_overrides_notify_policy ON limit_overrides;
DROP TRIGGER ip_blocks_notify_policy ON ip_blocks;
DROP FUNCTION atelier_notify_policy();
