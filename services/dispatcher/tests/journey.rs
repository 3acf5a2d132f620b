//! The journey command (`scripts/journey.sh`) over a real log: one event delivered after two
//! retries, one dead-lettered.

use std::sync::Mutex;
use std::time::Duration;

use herald_runtime::config::LogFormat;
use herald_test_support::stack::{Stack, first_delivery};
use herald_test_support::{Receiver, Reply, eventually};
use serde_json::json;
use sqlx::PgPool;

fn journey(event: &str, log: &std::path::Path) -> Vec<String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/journey.sh");
    let output = std::process::Command::new(script)
        .arg(event)
        .arg(log)
        .output()
        .expect("journey.sh runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The messages of the journey, in order.
fn steps(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l.split("  ").nth(1).unwrap_or_default().to_owned())
        .collect()
}

/// With no exporter set, every log line of the event and every `traceparent` its receiver
/// got name one trace: the emitting request's, continued through each job and attempt.
fn one_trace_from_request_to_receiver(log: &std::path::Path, event: &str, receiver: &Receiver) {
    let text = std::fs::read_to_string(log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .filter(|line: &serde_json::Value| line["event_id"] == event)
        .collect();
    let traces: std::collections::BTreeSet<&str> = lines
        .iter()
        .map(|line| {
            line["trace_id"]
                .as_str()
                .expect("every line has a trace id")
        })
        .collect();
    assert_eq!(traces.len(), 1, "{lines:#?}");
    let trace = *traces.first().unwrap();
    assert_eq!(trace.len(), 32);
    let sent: Vec<String> = receiver
        .received()
        .iter()
        .map(|request| request.header("traceparent").unwrap().to_owned())
        .collect();
    assert_eq!(sent.len(), 3);
    let spans: std::collections::BTreeSet<&str> = sent
        .iter()
        .map(|traceparent| {
            let parts: Vec<&str> = traceparent.split('-').collect();
            assert_eq!((parts[0], parts[1], parts[3]), ("00", trace, "01"));
            parts[2]
        })
        .collect();
    assert_eq!(
        spans.len(),
        3,
        "each attempt is a span of its own: {sent:?}"
    );
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn the_journey_command_follows_an_event_to_success_and_to_the_dlq(pool: PgPool) {
    let log = tempfile::NamedTempFile::new().unwrap();
    herald_runtime::telemetry::init_to(LogFormat::Json, Mutex::new(log.reopen().unwrap()));
    let mut stack = Stack::start(pool, &[]).await;
    stack.start_dlq().await;
    let flaky_key = stack.tenant("flaky").await;
    let flaky = Receiver::start(
        vec![Reply::Status(500), Reply::Status(503)],
        Reply::Status(200),
    )
    .await;
    stack.webhook(&flaky_key, &flaky.url()).await;
    let refusing_key = stack.tenant("refusing").await;
    let refusing = Receiver::always(Reply::Status(400)).await;
    stack.webhook(&refusing_key, &refusing.url()).await;

    let delivered = stack.emit(&flaky_key, json!({})).await;
    let dead = stack.emit(&refusing_key, json!({})).await;
    stack
        .wait_for(
            &flaky_key,
            &first_delivery(&delivered),
            "success",
            Duration::from_secs(10),
        )
        .await;
    eventually("the dead letter", Duration::from_secs(10), || async {
        let page = stack.get(&refusing_key, "/dlq").await;
        (page["items"].as_array().map(Vec::len) == Some(1)).then_some(())
    })
    .await;

    let path = log.path();
    let lines = journey(delivered["id"].as_str().unwrap(), path);
    let expected = [
        "event accepted",
        "job enqueued",
        "attempt started",
        "attempt result",
        "retry scheduled",
        "job enqueued",
        "attempt started",
        "attempt result",
        "retry scheduled",
        "job enqueued",
        "attempt started",
        "attempt result",
        "delivered",
    ];
    assert_eq!(steps(&lines), expected, "{lines:#?}");
    let statuses: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("attempt result"))
        .collect();
    assert!(
        statuses[0].contains("status=500") && statuses[2].contains("status=200"),
        "{statuses:?}"
    );
    assert!(lines.iter().any(|l| l.contains("retry_in=")), "{lines:#?}");
    one_trace_from_request_to_receiver(path, delivered["id"].as_str().unwrap(), &flaky);

    let lines = journey(dead["id"].as_str().unwrap(), path);
    let expected = [
        "event accepted",
        "job enqueued",
        "attempt started",
        "attempt result",
        "delivery dead-lettered",
        "dead letter written",
    ];
    assert_eq!(steps(&lines), expected, "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains("status=400")), "{lines:#?}");
}
