-- The W3C trace context of the request that emitted the event, so that jobs published later
-- (by the outbox relay, after a crash or an outage) still join the event's trace.
ALTER TABLE events ADD COLUMN traceparent text
    CHECK (traceparent IS NULL OR length(traceparent) <= 256);
