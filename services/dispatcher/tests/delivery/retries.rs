//! The schedule and the failure classification, observed at a real receiver.

use std::time::Duration;

use herald_test_support::{Receiver, Reply, eventually};
use serde_json::json;
use sqlx::PgPool;

use herald_test_support::stack::{SCHEDULE, Stack, first_delivery};

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn an_always_failing_receiver_gets_six_attempts_on_schedule(pool: PgPool) {
    let stack = Stack::start(pool, &[]).await;
    let key = stack.tenant("acme").await;
    let receiver = Receiver::always(Reply::Status(500)).await;
    stack.webhook(&key, &receiver.url()).await;
    let delivery = first_delivery(&stack.emit(&key, json!({})).await);

    let failed = stack
        .wait_for(&key, &delivery, "failed", Duration::from_secs(20))
        .await;
    assert_eq!(failed["attempt_count"], 6);
    let attempts = failed["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 6, "GET /deliveries shows every attempt");
    for (i, attempt) in attempts.iter().enumerate() {
        assert_eq!(attempt["attempt"], i + 1);
        assert_eq!(attempt["status_code"], 500);
        assert_eq!(attempt["response_body"], "ok");
    }
    let received = receiver.received();
    assert_eq!(
        received.len(),
        6,
        "exactly six attempts reached the receiver"
    );
    for (i, pair) in received.windows(2).enumerate() {
        let gap = pair[1].at - pair[0].at;
        let scheduled = Duration::from_millis(SCHEDULE[i]);
        // Never early; late by at most the 10% jitter plus a generous allowance for CI.
        assert!(
            gap >= scheduled,
            "gap {i} was {gap:?}, scheduled {scheduled:?}"
        );
        assert!(
            gap <= scheduled.mul_f64(1.1) + Duration::from_millis(1500),
            "gap {i} was {gap:?}"
        );
        assert_eq!(
            pair[1].header("x-webhook-attempt"),
            Some((i + 2).to_string().as_str())
        );
        assert_eq!(pair[1].header("webhook-id"), pair[0].header("webhook-id"));
    }
    eventually(
        "the dead letter to be stored",
        Duration::from_secs(5),
        || async { (stack.dead_letters().await == 1).then_some(()) },
    )
    .await;
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn two_failures_then_success_ends_success_after_three(pool: PgPool) {
    let stack = Stack::start(pool, &[]).await;
    let key = stack.tenant("acme").await;
    let receiver = Receiver::start(
        vec![Reply::Status(502), Reply::Status(503)],
        Reply::Status(200),
    )
    .await;
    stack.webhook(&key, &receiver.url()).await;
    let delivery = first_delivery(&stack.emit(&key, json!({})).await);
    let done = stack
        .wait_for(&key, &delivery, "success", Duration::from_secs(10))
        .await;
    assert_eq!(done["attempt_count"], 3);
    let codes: Vec<i64> = done["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [502, 503, 200]);
    assert_eq!(receiver.count(), 3);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn gone_disables_the_webhook_and_dead_letters_at_once(pool: PgPool) {
    let stack = Stack::start(pool, &[]).await;
    let key = stack.tenant("acme").await;
    let receiver = Receiver::always(Reply::Status(410)).await;
    let (webhook, _) = stack.webhook(&key, &receiver.url()).await;
    let delivery = first_delivery(&stack.emit(&key, json!({})).await);
    let failed = stack
        .wait_for(&key, &delivery, "failed", Duration::from_secs(10))
        .await;
    assert_eq!(failed["attempt_count"], 1);
    let shown = stack.get(&key, &format!("/webhooks/{webhook}")).await;
    assert_eq!(shown["enabled"], false);
    assert!(shown["disabled_reason"].as_str().unwrap().contains("410"));
    assert_eq!(receiver.count(), 1);
    let next = stack.emit(&key, json!({})).await;
    assert_eq!(
        next["deliveries"],
        json!([]),
        "a disabled webhook gets no new deliveries"
    );
    eventually("the dead letter", Duration::from_secs(5), || async {
        (stack.dead_letters().await == 1).then_some(())
    })
    .await;
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_client_error_is_not_retried(pool: PgPool) {
    let stack = Stack::start(pool, &[]).await;
    let key = stack.tenant("acme").await;
    let receiver = Receiver::always(Reply::Status(400)).await;
    stack.webhook(&key, &receiver.url()).await;
    let delivery = first_delivery(&stack.emit(&key, json!({})).await);
    let failed = stack
        .wait_for(&key, &delivery, "failed", Duration::from_secs(10))
        .await;
    assert_eq!(failed["attempt_count"], 1);
    assert_eq!(failed["last_status_code"], 400);
    // Dead-lettered and acked: no job is left that could attempt it again.
    eventually("the dead letter", Duration::from_secs(5), || async {
        (stack.dead_letters().await == 1).then_some(())
    })
    .await;
    assert_eq!(receiver.count(), 1);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn retry_after_is_honoured(pool: PgPool) {
    let stack = Stack::start(pool, &[]).await;
    let key = stack.tenant("acme").await;
    let busy = Reply::StatusWithHeader(503, "Retry-After", "2".into());
    let receiver = Receiver::start(vec![busy], Reply::Status(200)).await;
    stack.webhook(&key, &receiver.url()).await;
    let delivery = first_delivery(&stack.emit(&key, json!({})).await);
    stack
        .wait_for(&key, &delivery, "success", Duration::from_secs(10))
        .await;
    let received = receiver.received();
    assert_eq!(received.len(), 2);
    let gap = received[1].at - received[0].at;
    assert!(gap >= Duration::from_secs(2), "waited only {gap:?}");
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn redirects_are_not_followed(pool: PgPool) {
    let stack = Stack::start(pool, &[]).await;
    let key = stack.tenant("acme").await;
    let elsewhere = Receiver::always(Reply::Status(200)).await;
    let redirect = Reply::StatusWithHeader(302, "Location", elsewhere.url());
    let receiver = Receiver::always(redirect).await;
    stack.webhook(&key, &receiver.url()).await;
    let delivery = first_delivery(&stack.emit(&key, json!({})).await);
    let failed = stack
        .wait_for(&key, &delivery, "failed", Duration::from_secs(10))
        .await;
    assert_eq!(failed["last_status_code"], 302);
    assert_eq!(receiver.count(), 1);
    assert_eq!(elsewhere.count(), 0, "the redirect was not followed");
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_slow_body_does_not_hold_a_successful_attempt(pool: PgPool) {
    let stack = Stack::start(pool, &[("HERALD_DELIVERY_TIMEOUT", "1s")]).await;
    let key = stack.tenant("acme").await;
    let every = Duration::from_millis(300);
    let receiver = Receiver::always(Reply::SlowBody {
        status: 200,
        every,
        chunks: 20,
    })
    .await;
    stack.webhook(&key, &receiver.url()).await;
    let delivery = first_delivery(&stack.emit(&key, json!({})).await);
    // The status decides; the trickling body is read for at most the delivery timeout.
    let done = stack
        .wait_for(&key, &delivery, "success", Duration::from_secs(10))
        .await;
    assert_eq!(done["attempt_count"], 1);
    let took = done["attempts"][0]["duration_ms"].as_i64().unwrap();
    assert!(took < 2000, "the attempt took {took} ms");
    assert!(
        done["attempts"][0]["response_body"]
            .as_str()
            .unwrap()
            .starts_with("slow")
    );
}
