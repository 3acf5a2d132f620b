-- A tenant's lifecycle and its own settings.
-- status: 'active' works; 'suspended' keeps the API and queues events but delivers nothing;
-- 'disabled' refuses its API keys (403) and has no JetStream consumer. Nothing is deleted.
-- retry_schedule_ms: the tenant's own delays between attempts (NULL = HERALD_RETRY_SCHEDULE).
ALTER TABLE tenants
    ADD COLUMN display_name text CHECK (char_length(display_name) <= 200),
    ADD COLUMN status text NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'suspended', 'disabled')),
    ADD COLUMN retry_schedule_ms bigint[] CHECK (
        retry_schedule_ms IS NULL OR (
            array_ndims(retry_schedule_ms) = 1
            AND cardinality(retry_schedule_ms) BETWEEN 1 AND 20
            AND array_position(retry_schedule_ms, NULL) IS NULL
            AND 0 <= ALL (retry_schedule_ms)));

-- A label names the holder of a key (e.g. "the Kubernetes Secret ns/name"); issuing a new key
-- with a label revokes the tenant's earlier keys with that label, so at most one is live.
ALTER TABLE api_keys
    ADD COLUMN label text CHECK (char_length(label) BETWEEN 1 AND 200);
CREATE UNIQUE INDEX api_keys_live_label ON api_keys (tenant_id, label)
    WHERE revoked_at IS NULL AND label IS NOT NULL;
