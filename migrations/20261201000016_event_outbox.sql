-- A new event's first jobs wait in an outbox of their own: one row per event, not one index
-- entry per delivery.
--
-- Before, every delivery entered the outbox index (`deliveries_unpublished`, predicate
-- `published_at IS NULL`) when inserted, and left it at its claim, which set `published_at`.
-- A column of an index's predicate changed, so PostgreSQL could not rewrite the row in place
-- (HOT): every claim wrote a new row version and an entry for it in each of the table's
-- indexes, four WAL records per delivery, and left dead entries behind for the relay's scans
-- and for vacuum. At ten deliveries per event, claims were PostgreSQL's costliest statement
-- (docs/perf/README.md, fourteenth round).
--
-- - `event_outbox`: the events whose first jobs JetStream has not confirmed. A delivery
--   inserted pending at generation 0 enters it through its event (trigger below, one call
--   per statement), so every writer of deliveries, whatever its version, is covered. The
--   publisher deletes an event's row once JetStream confirmed all of its first jobs; the
--   relay publishes again the jobs of an event whose row outlives the grace.
-- - A claim no longer sets `published_at` at generation 0, so claims and attempt records of
--   a delivery's first job are HOT updates.
-- - `deliveries_unpublished` keeps only later jobs (generation above 0), whose publish marks
--   and claims still write `published_at` (each a retry, a deferral or a manual retry).
-- - events lose their foreign key to tenants, as deliveries did (migration 0009): each event
--   locked its tenant's row FOR KEY SHARE. Tenants are never deleted (trigger
--   `tenants_are_not_deleted`).
CREATE TABLE event_outbox (
    event_id   uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX event_outbox_by_age ON event_outbox (created_at);

CREATE FUNCTION enter_event_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_outbox (event_id, tenant_id, created_at)
    SELECT event_id, tenant_id, min(created_at) FROM inserted
    WHERE generation = 0 AND status = 'pending' AND published_at IS NULL
    GROUP BY event_id, tenant_id
    ON CONFLICT (event_id) DO NOTHING;
    RETURN NULL;
END;
$$;
CREATE TRIGGER deliveries_enter_the_event_outbox
    AFTER INSERT ON deliveries REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION enter_event_outbox();

-- First jobs not confirmed at the time of the upgrade.
INSERT INTO event_outbox (event_id, tenant_id, created_at)
SELECT event_id, tenant_id, min(created_at) FROM deliveries
WHERE generation = 0 AND status = 'pending' AND published_at IS NULL
GROUP BY event_id, tenant_id;

DROP INDEX deliveries_unpublished;
ALTER INDEX deliveries_unpublished_retries RENAME TO deliveries_unpublished;

ALTER TABLE events DROP CONSTRAINT events_tenant_id_fkey;
