-- Dead letters, one row per dead delivery and generation: a manual retry starts a new
-- generation, and if that dies too it gets a row of its own, while the old row stays as
-- history (retried_at set). At most one row per delivery is open (not retried).
-- The table from the first migration was never written; it is replaced.
DROP TABLE dead_letter_queue;
CREATE TABLE dead_letter_queue (
    id                uuid PRIMARY KEY,
    delivery_id       uuid NOT NULL REFERENCES deliveries (id),
    generation        integer NOT NULL,
    tenant_id         uuid NOT NULL REFERENCES tenants (id),
    webhook_id        uuid NOT NULL REFERENCES webhooks (id),
    event_id          uuid NOT NULL REFERENCES events (id),
    reason            text NOT NULL,
    last_error        text NOT NULL,
    last_status_code  integer,
    attempts          integer NOT NULL,
    failed_at         timestamptz NOT NULL,
    recorded_at       timestamptz NOT NULL DEFAULT now(),
    retried_at        timestamptz,
    UNIQUE (delivery_id, generation)
);
CREATE UNIQUE INDEX dead_letter_queue_one_open ON dead_letter_queue (delivery_id)
    WHERE retried_at IS NULL;
CREATE INDEX dead_letter_queue_page ON dead_letter_queue (tenant_id, failed_at DESC, id DESC)
    WHERE retried_at IS NULL;

-- redelivery_limit: JetStream gave up on the job (its dispatcher crashed or timed out on it
-- HERALD_MAX_DELIVER times); the DLQ service dead-letters it from the advisory.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_dead_reason_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_dead_reason_check CHECK (dead_reason IN
    ('permanent', 'exhausted', 'gone', 'webhook_disabled', 'webhook_deleted', 'redelivery_limit'));

-- attempt_base: attempts made before the latest manual retry; the retry schedule counts
-- attempts from here, so a retried delivery gets the whole schedule again.
ALTER TABLE deliveries ADD COLUMN attempt_base integer NOT NULL DEFAULT 0;
