//! One telemetry set-up per binary: structured logs to stdout, filtered by `RUST_LOG`.
//!
//! JSON lines carry the fields of the span they were written in under `span` (the dispatcher
//! works each delivery in a span with `tenant`, `event_id`, `delivery_id`, `webhook_id`,
//! `attempt` and `trace_id`); see docs/observability.md for following one event.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;

pub fn init(format: LogFormat) {
    init_to(format, std::io::stdout);
}

/// The same set-up writing elsewhere (tests capture the log this way).
pub fn init_to<W>(format: LogFormat, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(true);
    // A second init (tests building several apps) keeps the first subscriber.
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.pretty().try_init(),
    };
}
