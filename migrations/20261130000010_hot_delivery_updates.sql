-- Status changes as HOT updates. PostgreSQL rewrites a row in place, touching none of its
-- indexes, only when no indexed column changes, columns in a partial index's predicate
-- included. Every claim and every attempt record changes `status`, which both partial
-- indexes named, so each of those updates inserted a new entry into all five indexes.
--
-- - `deliveries_in_flight` goes: the in-flight count (GET /quotas) now comes from
--   JetStream, whose unacknowledged count per tenant is what the concurrency quota caps.
-- - The outbox index keys on `published_at` alone. A row leaves it at its first claim or
--   publish mark (one non-HOT update); after that, claims and records rewrite it in place.
--   Every move out of `pending` sets `published_at` (a claim, an abandoned job failed by the
--   DLQ service), so only pending rows can be in it; the relay still checks the status.
-- - Pages keep room for the new versions of their rows (fillfactor 70), without which an
--   update cannot stay on its page and is not HOT either.
DROP INDEX deliveries_in_flight;
DROP INDEX deliveries_unpublished;
CREATE INDEX deliveries_unpublished ON deliveries ((coalesce(next_attempt_at, created_at)))
    WHERE published_at IS NULL;
UPDATE deliveries SET published_at = coalesce(completed_at, updated_at)
    WHERE published_at IS NULL AND status <> 'pending';
ALTER TABLE deliveries SET (fillfactor = 70);
