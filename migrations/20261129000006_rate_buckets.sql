-- One token bucket per tenant for `events_per_second` (refill rate) and `burst` (capacity),
-- shared by every ingest replica. Replicas take tokens in small chunks (see
-- services/ingest/src/rate_limit.rs), so the row is written a few times a second per busy
-- tenant, not once per event.
CREATE TABLE rate_buckets (
    tenant_id    uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    tokens       double precision NOT NULL CHECK (tokens >= 0),
    refilled_at  timestamptz NOT NULL
);
