-- Housekeeping deletes uses no window counts any more and login failures past theirs in
-- batches, oldest first: each batch reads the next ones from an index by time instead of
-- scanning the table again past every row the batches before it deleted.
CREATE INDEX usage_events_at_idx ON usage_events (at);
CREATE INDEX login_failures_at_idx ON login_failures (at);
