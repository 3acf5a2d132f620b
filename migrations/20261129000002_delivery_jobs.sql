-- Delivery jobs on JetStream.
-- generation: bumped by a manual retry from the DLQ; part of the job's message id.
-- lease_until: while a dispatcher attempts a delivery ('processing') no other may; if that
--   dispatcher dies the lease runs out and the job is worked again.
-- dead_reason: why a 'failed' delivery was dead-lettered (see DeadReason in the domain).
ALTER TABLE deliveries
    ADD COLUMN generation  integer NOT NULL DEFAULT 0,
    ADD COLUMN lease_until timestamptz,
    ADD COLUMN dead_reason text CHECK (dead_reason IN
        ('permanent', 'exhausted', 'gone', 'webhook_disabled', 'webhook_deleted'));
