//! An event's jobs travel as one JetStream message (a bundle): each still arrives once, fails
//! and retries on its own, and counts against its tenant's concurrency quota.

use std::time::Duration;

use herald_test_support::stack::Stack;
use herald_test_support::{Receiver, Reply, eventually};
use serde_json::{Value, json};
use sqlx::PgPool;

/// The deliveries of an emitted event, by id.
fn deliveries(answer: &Value) -> Vec<String> {
    answer["deliveries"]
        .as_array()
        .expect("deliveries listed")
        .iter()
        .map(|d| d["id"].as_str().expect("a delivery id").to_owned())
        .collect()
}

async fn stream_is_empty(stack: &Stack) {
    let stream = stack.topology().deliveries_stream();
    eventually("every message acked", Duration::from_secs(10), || async {
        (stack.stream_messages(&stream).await == 0).then_some(())
    })
    .await;
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn an_events_jobs_travel_as_one_message_and_each_arrives_once(pool: PgPool) {
    let mut stack = Stack::start(pool, &[]).await;
    let key = stack.tenant("acme").await;
    let mut receivers = Vec::new();
    for _ in 0..3 {
        let receiver = Receiver::always(Reply::Status(200)).await;
        stack.webhook(&key, &receiver.url()).await;
        receivers.push(receiver);
    }
    stack.stop_dispatcher().await;
    let answer = stack.emit(&key, json!({ "order": 1 })).await;
    assert_eq!(deliveries(&answer).len(), 3);
    let stream = stack.topology().deliveries_stream();
    assert_eq!(
        stack.stream_messages(&stream).await,
        1,
        "one message for 3 jobs"
    );

    stack.start_dispatcher().await;
    for delivery in deliveries(&answer) {
        stack
            .wait_for(&key, &delivery, "success", Duration::from_secs(10))
            .await;
    }
    stream_is_empty(&stack).await;
    for receiver in &receivers {
        assert_eq!(receiver.count(), 1, "each webhook got its delivery once");
    }
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_failing_job_retries_alone_while_the_rest_of_its_bundle_is_done(pool: PgPool) {
    let stack = Stack::start(pool, &[]).await;
    let key = stack.tenant("acme").await;
    let healthy = Receiver::always(Reply::Status(200)).await;
    let flaky = Receiver::start(vec![Reply::Status(503)], Reply::Status(200)).await;
    let refusing = Receiver::always(Reply::Status(400)).await;
    for receiver in [&healthy, &flaky, &refusing] {
        stack.webhook(&key, &receiver.url()).await;
    }
    let answer = stack.emit(&key, json!({})).await;
    let mut statuses = Vec::new();
    for delivery in deliveries(&answer) {
        let status = eventually("the delivery settles", Duration::from_secs(10), || async {
            let body = stack.get(&key, &format!("/deliveries/{delivery}")).await;
            let status = body["status"].as_str().unwrap_or_default().to_owned();
            (status == "success" || status == "failed").then_some(status)
        })
        .await;
        statuses.push(status);
    }
    statuses.sort();
    assert_eq!(statuses, ["failed", "success", "success"]);
    stream_is_empty(&stack).await;
    assert_eq!(healthy.count(), 1);
    assert_eq!(flaky.count(), 2, "the failed attempt was retried");
    assert_eq!(refusing.count(), 1, "a permanent failure is not retried");
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_bundle_keeps_its_tenant_within_its_quota(pool: PgPool) {
    let mut stack = Stack::start(pool, &[("HERALD_DELIVERY_TIMEOUT", "5s")]).await;
    let key = stack.tenant("acme").await;
    let hanging = Receiver::always(Reply::Hang).await;
    let healthy = Receiver::always(Reply::Status(200)).await;
    // Four webhooks on one receiver that never answers, one that does.
    for _ in 0..4 {
        stack.webhook(&key, &hanging.url()).await;
    }
    stack.webhook(&key, &healthy.url()).await;
    stack.stop_dispatcher().await;
    stack.cap_concurrency(2).await;
    stack.emit(&key, json!({})).await;
    stack.start_dispatcher().await;
    // Both of the tenant's places are held until the 5 s timeout.
    hanging.holds_at(2, "the tenant's quota").await;
}
