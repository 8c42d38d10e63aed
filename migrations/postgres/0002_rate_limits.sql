-- Rate-limit budgets shared by every instance (GCRA): one row per client IP or email, holding
-- its theoretical arrival time. A request is allowed while `tat` is at most the burst ahead of
-- now, and moves it one emission interval on. A row whose `tat` has passed is a full budget,
-- the same as no row, so such rows are deleted from time to time.
--
-- The key is the SHA-256 of `ip:…` or `email:…`, not the address itself, and the table is
-- UNLOGGED: budgets last a minute or two, so they stay out of the WAL, replicas and backups,
-- and a crash that empties the table only refills everyone's budget.
CREATE UNLOGGED TABLE rate_limits (
    key bytea       PRIMARY KEY,
    tat timestamptz NOT NULL
);
