//! The spans of one job, as they appear in a trace:
//!
//! ```text
//! publish delivery job          (ingest, producer)
//! └── deliver                   (consumer: claim, attempt, bookkeeping)
//!     ├── POST                  (client: the attempt; `traceparent` goes to the receiver)
//!     │   └── event "attempt result"
//!     └── decide                (success, retry with its delay, or dead)
//!         └── publish ...       (the retry's job, or the hand-off to the DLQ service)
//! ```
//!
//! Their fields are also the fields of every log line written inside them.

use herald_domain::job::DeliveryJob;
use herald_domain::{DeliveryId, EventId, WebhookId};
use herald_runtime::trace_context::{continue_trace, record_ids};
use tracing::Span;
use tracing::field::Empty;

/// The span a job is worked in, continuing the trace its publisher sent along.
pub fn deliver(job: &DeliveryJob, tenant: &str, traceparent: Option<&str>) -> Span {
    let span = tracing::info_span!(
        "delivery",
        "otel.name" = "deliver",
        "otel.kind" = "consumer",
        "messaging.system" = "nats",
        tenant,
        event_id = %EventId::from_uuid(job.event_id),
        delivery_id = %DeliveryId::from_uuid(job.delivery_id),
        webhook_id = %WebhookId::from_uuid(job.webhook_id),
        generation = job.generation,
        attempt = Empty,
        trace_id = Empty,
        span_id = Empty,
    );
    continue_trace(&span, traceparent);
    span
}

/// The HTTP POST of an attempt to `url` (parsed; `None` if it does not parse), a child of
/// the current span. Only the host is recorded: a URL's path or query may hold the tenant's
/// credentials.
pub fn post(parsed: Option<&url::Url>) -> Span {
    let span = tracing::info_span!(
        "post",
        "otel.name" = "POST",
        "otel.kind" = "client",
        "otel.status_code" = Empty,
        "http.request.method" = "POST",
        "server.address" = parsed.and_then(|u| u.host_str()).unwrap_or_default(),
        "server.port" = parsed.and_then(url::Url::port_or_known_default),
        "http.response.status_code" = Empty,
        "error.type" = Empty,
        trace_id = Empty,
        span_id = Empty,
    );
    record_ids(&span);
    span
}

/// What the attempt's outcome leads to, a child of the current span.
pub fn decide() -> Span {
    let span = tracing::info_span!(
        "decision",
        "otel.name" = "decide",
        outcome = Empty,
        "retry.delay_ms" = Empty,
        trace_id = Empty,
        span_id = Empty,
    );
    record_ids(&span);
    span
}
