//! The three service binaries, run as processes with `OTEL_EXPORTER_OTLP_ENDPOINT` set,
//! export one trace per event: each its own part under its own service name, linked across
//! NATS into a single chain from the API request to the dead letter.

use std::time::Duration;

use herald_chaos::Cluster;
use herald_test_support::collector::{CollectedSpan, Collector};
use herald_test_support::{Receiver, Reply, eventually};
use sqlx::PgPool;

const CHAIN: [(&str, &str); 6] = [
    ("POST createEvent", "herald-ingest"),
    ("publish delivery job", "herald-ingest"),
    ("deliver", "herald-dispatcher"),
    ("POST", "herald-dispatcher"),
    ("decide", "herald-dispatcher"),
    ("store dead letter", "herald-dlq"),
];

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn each_service_process_exports_its_part_of_the_event_trace(pool: PgPool) {
    let collector = Collector::start().await;
    let endpoint = collector.endpoint();
    let settings = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let cluster = Cluster::start(pool, &settings, 1).await;
    let key = cluster.tenant("acme").await;
    let receiver = Receiver::always(Reply::Status(400)).await;
    cluster.webhook(&key, &receiver.url()).await;
    cluster.emitter.emit_many(&key, 0..1, 1).await;

    let trace = eventually("the event's spans", Duration::from_secs(30), || async {
        let spans = collector.spans();
        let dead = spans.iter().find(|s| s.name == "store dead letter")?;
        let trace: Vec<CollectedSpan> = spans
            .iter()
            .filter(|s| s.trace_id == dead.trace_id)
            .cloned()
            .collect();
        let complete = CHAIN
            .iter()
            .all(|(name, _)| trace.iter().any(|s| s.name == *name));
        complete.then_some(trace)
    })
    .await;

    let named = |name: &str| trace.iter().find(|s| s.name == name).unwrap();
    for (name, service) in CHAIN {
        assert_eq!(named(name).service, service, "{name}");
    }
    for (child, parent) in [
        ("publish delivery job", "POST createEvent"),
        ("deliver", "publish delivery job"),
        ("POST", "deliver"),
        ("decide", "deliver"),
        ("store dead letter", "decide"),
    ] {
        assert_eq!(
            named(child).parent_span_id,
            named(parent).span_id,
            "{child} under {parent}"
        );
    }
    let post = named("POST");
    let sent = receiver.received()[0]
        .header("traceparent")
        .map(str::to_owned);
    assert_eq!(
        sent,
        Some(format!("00-{}-{}-01", post.trace_id, post.span_id))
    );
}
