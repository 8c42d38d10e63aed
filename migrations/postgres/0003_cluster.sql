-- Several instances behind a load balancer (REDIS_URL): each generation row says which instance
-- runs it, so that when that instance dies (its lease in Redis lapses) any other can mark its
-- generations failed, at start-up or when a follower notices. NULL for rows written before.
ALTER TABLE generations ADD COLUMN instance_id uuid;
-- The seq of the generation's terminal event (the SSE id of its `completed` or `error`), written
-- with the outcome: a client that resumes with that Last-Event-ID (or later) has seen the end and
-- gets 204 No Content from every instance, which stops an EventSource from reconnecting.
ALTER TABLE generations ADD COLUMN final_seq bigint CHECK (final_seq > 0);
-- Start-up and followers look for the running generations of one instance.
CREATE INDEX generations_running_instance ON generations (instance_id) WHERE status = 'running';
