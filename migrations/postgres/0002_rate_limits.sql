-- Rate-limit budgets shared by every instance (GCRA): one row per client IP or email, holding
-- its theoretical arrival time. A request is allowed while `tat` is at most the burst ahead of
-- now, and moves it one emission interval on. A row whose `tat` has passed is a full budget,
-- the same as no row, so such rows are deleted from time to time.
CREATE TABLE rate_limits (
    key text        PRIMARY KEY,
    tat timestamptz NOT NULL
);
