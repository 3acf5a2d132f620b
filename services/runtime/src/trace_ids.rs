//! W3C ids for every span when no trace is exported. Without an OTLP endpoint nothing leaves
//! the process, yet log lines and receivers still carry trace and span ids. This layer gives
//! each span only those: its parent's trace (or, once `trace_context::continue_trace` says so,
//! a remote caller's) and a span id of its own. It keeps no attributes and builds nothing when
//! a span closes, which the OpenTelemetry layer does for every span whether or not anything
//! exports them (a fifth of the dispatcher's and ingest's CPU under load). With an endpoint
//! that layer is installed instead; `trace_context` reads the ids from whichever is there.

use herald_domain::traceparent::TraceParent;
use tracing::span::{Attributes, Id};
use tracing::{Span, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Layer, Registry};

/// The layer. The ids live in the span's extensions in the `Registry`, where `ids` and
/// `update` find them.
#[derive(Debug, Default, Clone, Copy)]
pub struct TraceIds;

impl<S> Layer<S> for TraceIds
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let parent = if let Some(parent) = attrs.parent() {
            ctx.span(parent)
        } else if attrs.is_contextual() {
            ctx.lookup_current()
        } else {
            None
        };
        let inherited = parent.and_then(|span| span.extensions().get::<TraceParent>().copied());
        let ids = inherited.map_or_else(TraceParent::new_root, |parent| parent.child());
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(ids);
        }
    }
}

/// The span's ids (`parent_id` is the span's own id), where this layer is installed and the
/// span enabled for it.
pub fn ids(span: &Span) -> Option<TraceParent> {
    let mut found = None;
    update(span, |ids| found = Some(*ids));
    found
}

/// Changes the span's ids in place (`continue_trace`, before any child exists).
pub fn update(span: &Span, mut f: impl FnMut(&mut TraceParent)) {
    span.with_subscriber(|(id, dispatch)| {
        let Some(registry) = dispatch.downcast_ref::<Registry>() else {
            return;
        };
        let Some(span) = registry.span(id) else {
            return;
        };
        if let Some(ids) = span.extensions_mut().get_mut::<TraceParent>() {
            f(ids);
        }
    });
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    fn with_layer(test: impl FnOnce()) {
        let subscriber = tracing_subscriber::registry().with(TraceIds);
        tracing::subscriber::with_default(subscriber, test);
    }

    #[test]
    fn children_share_the_trace_and_have_ids_of_their_own() {
        with_layer(|| {
            let root = tracing::info_span!("root");
            let child = root.in_scope(|| tracing::info_span!("child"));
            let explicit = tracing::info_span!(parent: &root, "explicit");
            let (root, child, explicit) = (
                ids(&root).unwrap(),
                ids(&child).unwrap(),
                ids(&explicit).unwrap(),
            );
            assert_eq!(child.trace_id, root.trace_id);
            assert_eq!(explicit.trace_id, root.trace_id);
            assert_ne!(child.parent_id, root.parent_id);
            assert_ne!(explicit.parent_id, child.parent_id);
            assert!(root.sampled);
        });
    }

    #[test]
    fn separate_roots_start_separate_traces() {
        with_layer(|| {
            let one = ids(&tracing::info_span!("one")).unwrap();
            let two = ids(&tracing::info_span!("two")).unwrap();
            assert_ne!(one.trace_id, two.trace_id);
        });
    }

    #[test]
    fn an_update_reaches_the_children_made_after_it() {
        with_layer(|| {
            let remote =
                TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
                    .unwrap();
            let span = tracing::info_span!("continued");
            update(&span, |ids| {
                ids.trace_id = remote.trace_id;
                ids.sampled = remote.sampled;
            });
            let child = span.in_scope(|| tracing::info_span!("child"));
            let child = ids(&child).unwrap();
            assert_eq!(child.trace_id, remote.trace_id);
            assert!(!child.sampled);
        });
    }

    #[test]
    fn without_the_layer_there_are_no_ids() {
        let subscriber = tracing_subscriber::registry();
        tracing::subscriber::with_default(subscriber, || {
            assert_eq!(ids(&tracing::info_span!("plain")), None);
        });
    }
}
