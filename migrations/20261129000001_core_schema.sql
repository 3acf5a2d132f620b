-- Herald's system of record. Ids are UUIDv7 made by the services (time-ordered, so list
-- pages by (created_at, id) walk the indexes in order).

CREATE TABLE tenants (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Keys are shown once; only a SHA-256 hash is kept. The prefix lets a tenant tell keys apart.
CREATE TABLE api_keys (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key_hash      text NOT NULL UNIQUE,
    prefix        text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id);

CREATE TABLE quotas (
    tenant_id                  uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    events_per_second          integer NOT NULL CHECK (events_per_second > 0),
    burst                      integer NOT NULL CHECK (burst > 0),
    max_concurrent_deliveries  integer NOT NULL CHECK (max_concurrent_deliveries > 0),
    max_dlq_size               bigint  NOT NULL CHECK (max_dlq_size > 0),
    max_payload_bytes          bigint  NOT NULL CHECK (max_payload_bytes > 0),
    max_webhooks               integer NOT NULL CHECK (max_webhooks > 0),
    updated_at                 timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE event_types (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name         text NOT NULL,
    description  text,
    schema       jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);
CREATE INDEX event_types_page ON event_types (tenant_id, created_at, id);

-- secrets: [{"secret": "whsec_...", "created_at": "...", "expires_at": null}], newest first;
-- every unexpired secret signs, so rotation never breaks a receiver.
-- event_types: empty means every type. Deleted webhooks stay (soft delete) so their
-- deliveries keep their history.
CREATE TABLE webhooks (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    url              text NOT NULL CHECK (length(url) <= 2048),
    description      text,
    event_types      text[] NOT NULL DEFAULT '{}',
    secrets          jsonb NOT NULL,
    enabled          boolean NOT NULL DEFAULT true,
    disabled_reason  text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    deleted_at       timestamptz
);
CREATE INDEX webhooks_page ON webhooks (tenant_id, created_at, id) WHERE deleted_at IS NULL;

-- The immutable log of what tenants emitted.
CREATE TABLE events (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    event_type       text NOT NULL,
    payload          jsonb NOT NULL,
    occurred_at      timestamptz NOT NULL,
    idempotency_key  text,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_page ON events (tenant_id, created_at, id);

CREATE FUNCTION refuse_event_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are immutable: % is refused', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;
CREATE TRIGGER events_are_immutable
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION refuse_event_change();
CREATE TRIGGER events_are_not_truncated
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_event_change();

-- One row per event x matching webhook. Narrow on purpose: status changes rewrite it often,
-- the payload stays in events.
CREATE TABLE deliveries (
    id                uuid PRIMARY KEY,
    tenant_id         uuid NOT NULL REFERENCES tenants (id),
    event_id          uuid NOT NULL REFERENCES events (id),
    webhook_id        uuid NOT NULL REFERENCES webhooks (id),
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'processing', 'success', 'failed')),
    attempts          integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at   timestamptz,
    last_status_code  integer,
    last_error        text,
    published_at      timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    completed_at      timestamptz,
    UNIQUE (event_id, webhook_id)
);
CREATE INDEX deliveries_in_flight ON deliveries (tenant_id) WHERE status = 'processing';
CREATE INDEX deliveries_by_webhook ON deliveries (webhook_id, created_at, id);
-- The outbox: accepted deliveries whose job is not yet confirmed on JetStream.
CREATE INDEX deliveries_unpublished ON deliveries (created_at)
    WHERE status = 'pending' AND published_at IS NULL;

CREATE TABLE delivery_attempts (
    id             uuid PRIMARY KEY,
    delivery_id    uuid NOT NULL REFERENCES deliveries (id),
    attempt        integer NOT NULL CHECK (attempt > 0),
    started_at     timestamptz NOT NULL,
    duration_ms    integer NOT NULL CHECK (duration_ms >= 0),
    status_code    integer,
    error          text,
    response_body  text,
    UNIQUE (delivery_id, attempt)
);

CREATE TABLE dead_letter_queue (
    delivery_id  uuid PRIMARY KEY REFERENCES deliveries (id),
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    webhook_id   uuid NOT NULL REFERENCES webhooks (id),
    event_id     uuid NOT NULL REFERENCES events (id),
    last_error   text NOT NULL,
    failed_at    timestamptz NOT NULL DEFAULT now(),
    retried_at   timestamptz
);
CREATE INDEX dead_letter_queue_page ON dead_letter_queue (tenant_id, failed_at, delivery_id)
    WHERE retried_at IS NULL;

-- Who changed what. actor: "admin" or "key:<api key id>".
CREATE TABLE audit_log (
    id          uuid PRIMARY KEY,
    tenant_id   uuid REFERENCES tenants (id) ON DELETE SET NULL,
    actor       text NOT NULL,
    action      text NOT NULL,
    target      text,
    details     jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_page ON audit_log (tenant_id, created_at, id);

-- The first answer to a POST /events with an Idempotency-Key, replayed for 24 hours.
CREATE TABLE idempotency_keys (
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key           text NOT NULL,
    request_hash  text NOT NULL,
    response      jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (created_at);
