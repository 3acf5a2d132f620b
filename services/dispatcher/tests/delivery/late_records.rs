//! A dispatcher that stalls past its lease and records late changes nothing: the delivery
//! may meanwhile have been taken over, retried, and claimed again by a third dispatcher.

use std::time::Duration;

use herald_dispatcher::claim_batch::Claimer;
use herald_dispatcher::record_batch::{AttemptRecord, Recorder};
use herald_dispatcher::sender::AttemptReport;
use herald_domain::classify::AttemptResult;
use herald_domain::job::DeadReason;
use herald_domain::retry::Decision;
use herald_test_support::stack::Stack;
use herald_test_support::{Receiver, Reply, eventually};
use serde_json::json;
use sqlx::PgPool;

fn answer(status: u16) -> AttemptReport {
    AttemptReport {
        result: AttemptResult::Response {
            status,
            retry_after: None,
        },
        duration: Duration::from_millis(5),
        response_excerpt: None,
    }
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_late_record_leaves_a_newer_claim_alone(pool: PgPool) {
    let mut stack = Stack::start(pool, &[]).await;
    stack.stop_dispatcher().await;
    let key = stack.tenant("acme").await;
    let receiver = Receiver::always(Reply::Status(200)).await;
    stack.webhook(&key, &receiver.url()).await;
    stack.emit(&key, json!({})).await;
    let job = stack.only_job().await;
    let first = job.generation;
    let claimer = Claimer::new(stack.pool.clone(), Duration::from_millis(100));
    let recorder = Recorder::new(stack.pool.clone());
    let record = |status, decision, generation, attempt| AttemptRecord {
        delivery: job.delivery_id,
        generation,
        webhook: job.webhook_id,
        attempt,
        report: answer(status),
        error: None,
        decision,
    };

    let claimer = &claimer;
    let claims = |generation| async move {
        let claimed = claimer.claim(job.delivery_id, generation).await.unwrap();
        claimed.is_some().then_some(())
    };

    // Dispatcher A claims, then stalls past its lease; B takes the delivery over once the
    // lease has run out and records a retry (a new generation); C claims the retry.
    assert!(claims(first).await.is_some(), "A claims");
    eventually("B to take over", Duration::from_secs(10), || claims(first)).await;
    let retry = Decision::RetryIn(Duration::ZERO);
    let second = recorder.record(record(503, retry, first, 1)).await.unwrap();
    assert_eq!(second, Some(first + 1), "B's retry moved the delivery on");
    let second = first + 1;
    assert!(claims(second).await.is_some(), "C claims the retry");

    // A wakes up and records its attempt, through the batch and through the single path.
    let late = recorder
        .record(record(200, Decision::Succeeded, first, 1))
        .await;
    assert_eq!(late.unwrap(), None, "a late success is refused");
    let gone = Decision::Dead(DeadReason::Gone);
    let late = recorder.record(record(410, gone, first, 1)).await;
    assert_eq!(late.unwrap(), None, "a late 410 is refused");
    let state: (String, i32, i32, bool) = sqlx::query_as(
        "SELECT d.status, d.generation, d.attempts, w.enabled
         FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id",
    )
    .fetch_one(&stack.pool)
    .await
    .unwrap();
    assert_eq!(
        state,
        ("processing".to_owned(), second, 1, true),
        "C's claim is untouched and the webhook still enabled"
    );

    // C's own record still lands.
    let done = recorder
        .record(record(200, Decision::Succeeded, second, 2))
        .await;
    assert_eq!(done.unwrap(), Some(second));
    let attempts: Vec<(i32, Option<i32>)> =
        sqlx::query_as("SELECT attempt, status_code FROM delivery_attempts ORDER BY attempt")
            .fetch_all(&stack.pool)
            .await
            .unwrap();
    assert_eq!(attempts, [(1, Some(503)), (2, Some(200))]);
    assert_eq!(
        stack
            .count("SELECT count(*) FROM deliveries WHERE status = 'success'")
            .await,
        1
    );
}
