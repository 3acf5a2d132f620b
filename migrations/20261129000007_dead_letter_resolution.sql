-- A dead letter is closed either by a retry or by the tenant discarding it (to make room under
-- `max_dlq_size` for deliveries it no longer wants). `closed_at` says when, `resolution` how.
ALTER TABLE dead_letter_queue RENAME COLUMN retried_at TO closed_at;
ALTER TABLE dead_letter_queue ADD COLUMN resolution text
    CHECK (resolution IN ('retried', 'discarded'));
UPDATE dead_letter_queue SET resolution = 'retried' WHERE closed_at IS NOT NULL;
ALTER TABLE dead_letter_queue ADD CONSTRAINT dead_letter_queue_closed_how
    CHECK ((closed_at IS NULL) = (resolution IS NULL));
