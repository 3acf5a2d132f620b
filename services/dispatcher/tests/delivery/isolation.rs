//! A receiver that hangs does not hold back the tenant's other webhooks.

use std::time::{Duration, Instant};

use herald_test_support::{Receiver, Reply, eventually};
use serde_json::json;
use sqlx::PgPool;

use herald_test_support::stack::Stack;

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_hanging_webhook_does_not_delay_the_others(pool: PgPool) {
    let settings = [
        ("HERALD_DELIVERY_TIMEOUT", "5s"),
        ("HERALD_WEBHOOK_CONCURRENCY", "2"),
    ];
    let mut stack = Stack::start(pool, &settings).await;
    let key = stack.tenant("acme").await;
    let hanging = Receiver::always(Reply::Hang).await;
    let healthy = Receiver::always(Reply::Status(200)).await;
    stack.webhook(&key, &hanging.url()).await;
    stack.webhook(&key, &healthy.url()).await;

    // The jobs of both webhooks interleave in the tenant's queue.
    stack.stop_dispatcher().await;
    for n in 0..30 {
        stack.emit(&key, json!({ "n": n })).await;
    }
    let started = Instant::now();
    stack.start_dispatcher().await;
    eventually(
        "the healthy webhook's 30 deliveries",
        Duration::from_secs(15),
        || async { (healthy.count() >= 30).then_some(()) },
    )
    .await;
    let took = started.elapsed();
    // Held behind the hanging webhook, they would wait for its 5 s timeouts.
    assert!(
        took < Duration::from_secs(4),
        "healthy deliveries took {took:?}"
    );
    assert!(
        hanging.count() <= 2,
        "the hanging webhook got {} concurrent attempts",
        hanging.count()
    );
}
