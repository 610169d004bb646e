DROP INDEX login_failures_at_idx;
DROP INDEX usage_events_at_idx;
