//! One event's trace, exported over OTLP/HTTP (protobuf) to a collector the test runs: the
//! caller's request -> the ingest request span -> publish -> the dispatcher's job -> the HTTP
//! POST (with the receiver's answer) and the decision to dead-letter -> the DLQ service storing
//! the letter, all in the caller's trace with each span's parent where it belongs, and the
//! receiver handed the POST's own context.

use std::time::Duration;

use herald_runtime::config::LogFormat;
use herald_test_support::collector::{CollectedSpan, Collector};
use herald_test_support::stack::Stack;
use herald_test_support::{Receiver, Reply, eventually};
use serde_json::json;
use sqlx::PgPool;

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn one<'a>(spans: &'a [CollectedSpan], name: &str) -> &'a CollectedSpan {
    let found: Vec<&CollectedSpan> = spans.iter().filter(|s| s.name == name).collect();
    let summary: Vec<String> = spans
        .iter()
        .map(|s| format!("{} {} <- {}", s.name, s.span_id, s.parent_span_id))
        .collect();
    assert_eq!(found.len(), 1, "one {name:?} span expected in {summary:#?}");
    found[0]
}

fn assert_child(child: &CollectedSpan, parent: &CollectedSpan) {
    assert_eq!(
        child.parent_span_id, parent.span_id,
        "{:?} should be a child of {:?}",
        child.name, parent.name
    );
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn one_trace_holds_the_post_its_answer_and_the_dlq_decision(pool: PgPool) {
    let collector = Collector::start().await;
    let telemetry = herald_runtime::telemetry::init_with(
        LogFormat::Json,
        std::io::sink,
        "herald-test",
        Some(&collector.endpoint()),
    )
    .expect("the exporter builds");
    let mut stack = Stack::start(pool, &[]).await;
    stack.start_dlq().await;
    let key = stack.tenant("acme").await;
    let receiver = Receiver::always(Reply::Status(400)).await;
    stack.webhook(&key, &receiver.url()).await;

    let caller = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    stack.emit_in_trace(&key, json!({}), &caller).await;
    eventually("the dead letter", Duration::from_secs(10), || async {
        let page = stack.get(&key, "/dlq").await;
        (page["items"].as_array().map(Vec::len) == Some(1)).then_some(())
    })
    .await;

    let telemetry = std::sync::Arc::new(telemetry);
    let spans = eventually("every span exported", Duration::from_secs(10), || {
        let (telemetry, collector) = (telemetry.clone(), &collector);
        async move {
            let _ = tokio::task::spawn_blocking(move || telemetry.flush()).await;
            let spans: Vec<CollectedSpan> = collector
                .spans()
                .into_iter()
                .filter(|s| s.trace_id == CALLER_TRACE)
                .collect();
            spans
                .iter()
                .any(|s| s.name == "store dead letter")
                .then_some(spans)
        }
    })
    .await;

    let request = one(&spans, "POST createEvent");
    let publish = one(&spans, "publish delivery job");
    let deliver = one(&spans, "deliver");
    let post = one(&spans, "POST");
    let decide = one(&spans, "decide");
    let stored = one(&spans, "store dead letter");
    assert_eq!(
        request.parent_span_id, CALLER_SPAN,
        "the caller's trace continues"
    );
    assert_child(publish, request);
    assert_child(deliver, publish);
    assert_child(post, deliver);
    assert_child(decide, deliver);
    assert_child(stored, decide);

    use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
    assert_eq!(request.span.kind(), SpanKind::Server);
    assert_eq!(publish.span.kind(), SpanKind::Producer);
    assert_eq!(deliver.span.kind(), SpanKind::Consumer);
    assert_eq!(post.span.kind(), SpanKind::Client);
    assert_eq!(
        request.attribute("http.response.status_code").as_deref(),
        Some("201")
    );
    assert_eq!(
        post.attribute("http.response.status_code").as_deref(),
        Some("400")
    );
    assert_eq!(post.attribute("error.type").as_deref(), Some("400"));
    assert!(post.has_event("attempt result"), "{post:#?}");
    assert_eq!(decide.attribute("outcome").as_deref(), Some("dead"));
    assert_eq!(deliver.attribute("attempt").as_deref(), Some("1"));
    let (started, ended) = (post.span.start_time_unix_nano, post.span.end_time_unix_nano);
    assert!(ended > started, "the POST span has a duration");
    assert!(
        decide.span.start_time_unix_nano >= ended,
        "the decision follows the answer"
    );

    let received = receiver.received();
    assert_eq!(
        received[0].header("traceparent"),
        Some(format!("00-{CALLER_TRACE}-{}-01", post.span_id).as_str()),
        "the receiver joins the trace under the POST span"
    );
}
