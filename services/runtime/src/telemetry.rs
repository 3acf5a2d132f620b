//! One telemetry set-up per binary: log lines to stdout (JSON by default, see `log_lines`;
//! written by a thread of their own, see `log_writer`), filtered by `RUST_LOG`, and trace
//! context for Herald's `tracing` spans. Spans always get W3C ids (logs and receivers see
//! them). When `OTEL_EXPORTER_OTLP_ENDPOINT` is set, every span becomes an OpenTelemetry span
//! exported over OTLP/HTTP (protobuf), tuned by the standard `OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_EXPORTER_OTLP_TIMEOUT` and `OTEL_BSP_*` variables; otherwise spans get only their ids
//! (`trace_ids`), which costs far less. docs/observability.md shows the spans of one event.

use anyhow::Context;
use opentelemetry::trace::TracerProvider;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{FilterExt, LevelFilter, Targets, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

use crate::config::{Config, LogFormat};
use crate::log_lines::JsonLines;
use crate::log_writer;
use crate::span_fields::SpanFields;
use crate::trace_ids::TraceIds;

/// Keeps the trace pipeline alive, if there is one, and the thread that writes the log to
/// standard output (`log_writer`); `shutdown` sends and writes what is still buffered.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    log_writer: Option<WorkerGuard>,
}

impl Telemetry {
    /// Exports every finished span now (blocking).
    pub fn flush(&self) {
        let Some(provider) = &self.provider else {
            return;
        };
        if let Err(error) = provider.force_flush() {
            tracing::warn!(%error, "spans not exported");
        }
    }

    /// Exports what is buffered and stops the pipeline, then writes the lines still queued
    /// (blocking).
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(error) = provider.shutdown()
        {
            tracing::warn!(%error, "trace pipeline did not shut down cleanly");
        }
        drop(self.log_writer);
    }
}

/// The set-up of a service binary named `service` (`herald-ingest`...).
pub fn init(config: &Config, service: &'static str) -> anyhow::Result<Telemetry> {
    let (writer, guard) = log_writer::stdout();
    let telemetry = init_with(
        config.log_format,
        writer,
        service,
        config.otlp_endpoint.as_deref(),
    )?;
    Ok(Telemetry {
        log_writer: Some(guard),
        ..telemetry
    })
}

/// Logs written elsewhere and no export (tests capture the log this way).
pub fn init_to<W>(format: LogFormat, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    // Without an endpoint nothing can fail.
    let _ = init_with(format, writer, "herald", None);
}

/// The full set-up. A second call in one process (tests building several apps) keeps the
/// first subscriber.
pub fn init_with<W>(
    format: LogFormat,
    writer: W,
    service: &'static str,
    otlp_endpoint: Option<&str>,
) -> anyhow::Result<Telemetry>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let provider = otlp_endpoint
        .map(|endpoint| tracer_provider(service, endpoint))
        .transpose()?;
    // Herald's own spans, whatever `RUST_LOG` says: it tunes the log, not the traces.
    let herald_spans = || Targets::new().with_target("herald", LevelFilter::INFO);
    let exported = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer(service))
            .with_threads(false)
            .with_location(false)
            .with_tracked_inactivity(false)
            .with_filter(herald_spans())
    });
    let ids_only = provider.is_none().then(|| {
        // Spans only: this layer has nothing to do with events, and asking for none lets
        // an event the log does not want either be skipped at its call site.
        let spans_only = filter_fn(|metadata| metadata.is_span());
        TraceIds.with_filter(herald_spans().and(spans_only))
    });
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let lines = match format {
        LogFormat::Json => fmt::layer()
            .fmt_fields(SpanFields)
            .event_format(JsonLines)
            .with_writer(writer)
            .with_filter(filter)
            .boxed(),
        LogFormat::Pretty => fmt::layer()
            .pretty()
            .with_writer(writer)
            .with_filter(filter)
            .boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(exported)
        .with(ids_only)
        .with(lines)
        .try_init();
    Ok(Telemetry {
        provider,
        log_writer: None,
    })
}

fn tracer_provider(service: &'static str, endpoint: &str) -> anyhow::Result<SdkTracerProvider> {
    let resource = Resource::builder().with_service_name(service).build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    let traces = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(&traces)
        .build()
        .with_context(|| format!("building the OTLP exporter for {traces}"))?;
    Ok(builder.with_batch_exporter(exporter).build())
}
