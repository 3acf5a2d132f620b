-- Delivery jobs on JetStream: each attempt is its own job.
-- generation: bumped for every new job of a delivery (a scheduled retry, a deferral, a manual
--   retry from the DLQ); part of the job's message id, and a job of an older generation is
--   stale.
-- lease_until: while a dispatcher attempts a delivery ('processing') no other may; if that
--   dispatcher dies the lease runs out and the job is worked again.
-- dead_reason: why a 'failed' delivery was dead-lettered (see DeadReason in the domain).
ALTER TABLE deliveries
    ADD COLUMN generation  integer NOT NULL DEFAULT 0,
    ADD COLUMN lease_until timestamptz,
    ADD COLUMN dead_reason text CHECK (dead_reason IN
        ('permanent', 'exhausted', 'gone', 'webhook_disabled', 'webhook_deleted'));

-- The outbox: pending deliveries whose current job is not confirmed on JetStream, by when
-- that job is due.
DROP INDEX deliveries_unpublished;
CREATE INDEX deliveries_unpublished ON deliveries ((coalesce(next_attempt_at, created_at)))
    WHERE status = 'pending' AND published_at IS NULL;
