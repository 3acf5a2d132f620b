//! W3C trace context across process boundaries. A span that continues a remote one (an HTTP
//! request, a job taken off NATS) gets its parent from the `traceparent` that came with it; a
//! span whose work leaves the process (a publish, a webhook POST) sends its own `traceparent`
//! along. Each span also records its ids as the `trace_id` and `span_id` fields, which the
//! JSON log lines written inside it carry (see `log_lines`).
//!
//! The ids come from the OpenTelemetry layer where spans are exported, and from the lighter
//! `trace_ids` layer otherwise (see `telemetry`).
//!
//! Spans passed here must declare `trace_id` and `span_id` as `tracing::field::Empty`.

use std::fmt::Write as _;

use herald_domain::traceparent::{TraceParent, hex};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing::field::display;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::trace_ids;

const TRACEPARENT: &str = "traceparent";

/// Makes `span` the child of the remote span `traceparent` names (an absent or malformed value
/// leaves it the root of a new trace), then records its ids. Call it before entering the span.
pub fn continue_trace(span: &Span, traceparent: Option<&str>) {
    if trace_ids::ids(span).is_some() {
        if let Some(remote) = traceparent.and_then(TraceParent::parse) {
            trace_ids::update(span, |ids| {
                ids.trace_id = remote.trace_id;
                ids.sampled = remote.sampled;
            });
        }
    } else if let Some(value) = traceparent {
        let parent = TraceContextPropagator::new().extract(&OneHeader(value));
        if parent.span().span_context().is_valid() {
            // Fails only once the span has started, which callers do not let happen.
            let _ = span.set_parent(parent);
        }
    }
    record_ids(span);
}

/// Records the span's trace and span ids as its `trace_id` and `span_id` fields.
pub fn record_ids(span: &Span) {
    if let Some(ids) = trace_ids::ids(span) {
        span.record("trace_id", display(hex(&ids.trace_id)));
        span.record("span_id", display(hex(&ids.parent_id)));
        return;
    }
    let context = span.context();
    let span_context = context.span().span_context().clone();
    if span_context.is_valid() {
        span.record("trace_id", span_context.trace_id().to_string());
        span.record("span_id", span_context.span_id().to_string());
    }
}

/// Renames the span once it has started (`otel.name` is read only at the start), e.g. when
/// routing has told what an HTTP request was. Only exported spans have a name to change.
pub fn rename(span: &Span, name: String) {
    span.context().span().update_name(name);
}

/// The span's `traceparent` value, or `None` where neither layer gives spans ids (tests that
/// install no telemetry).
pub fn traceparent(span: &Span) -> Option<String> {
    if let Some(ids) = trace_ids::ids(span) {
        // `00-` + 32 + `-` + 16 + `-01`: sized once, where `to_string` would grow it four times.
        let mut header = String::with_capacity(55);
        let _ = write!(header, "{ids}");
        return Some(header);
    }
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = Captured(None);
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.0
}

/// A carrier holding just the one header we propagate.
struct OneHeader<'a>(&'a str);

impl Extractor for OneHeader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == TRACEPARENT).then_some(self.0)
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT]
    }
}

struct Captured(Option<String>);

impl Injector for Captured {
    fn set(&mut self, key: &str, value: String) {
        if key == TRACEPARENT {
            self.0 = Some(value);
        }
    }
}
