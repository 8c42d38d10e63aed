-- Which instance runs a generation (its id, hyphenated text) and the seq of its terminal event.
-- A SQLite database belongs to one instance, so a row still `running` when it starts was left by
-- an earlier run of it and is marked failed. `final_seq` is the SSE id of the `completed` or
-- `error` event: a client resuming with that Last-Event-ID (or later) gets 204 No Content, which
-- stops an EventSource from reconnecting. Both are NULL for rows written before.
ALTER TABLE generations ADD COLUMN instance_id TEXT;
ALTER TABLE generations ADD COLUMN final_seq INTEGER CHECK (final_seq > 0);
