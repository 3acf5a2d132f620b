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

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_tenant_gets_no_more_than_its_quota_even_if_its_consumer_allows_more(pool: PgPool) {
    let mut stack = Stack::start(pool, &[("HERALD_DELIVERY_TIMEOUT", "5s")]).await;
    let key = stack.tenant("acme").await;
    let hanging = Receiver::always(Reply::Hang).await;
    stack.webhook(&key, &hanging.url()).await;
    // The quota drops to 2 while the consumer still allows the default 20, as when the
    // operator has not reconciled yet; the webhook itself would take 10.
    stack.stop_dispatcher().await;
    stack.cap_concurrency(2).await;
    for n in 0..6 {
        stack.emit(&key, json!({ "n": n })).await;
    }
    let lagging = herald_runtime::jetstream::ConsumerSettings {
        max_ack_pending: 20,
        ack_wait: Duration::from_secs(20),
        max_deliver: 100,
    };
    stack
        .topology()
        .ensure_tenant_consumer(&stack.jetstream().await, "acme", lagging)
        .await
        .unwrap();
    stack.start_dispatcher().await;
    hanging.holds_at(2, "the tenant's quota").await;
}

/// A process slot serves the attempt, not its bookkeeping: while the database holds up the
/// record of one attempt, a dispatcher with a single slot already attempts the next job.
#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_slot_is_free_while_its_attempt_is_recorded(pool: PgPool) {
    let settings = [
        ("HERALD_DISPATCHER_CONCURRENCY", "1"),
        ("HERALD_ACK_WAIT", "2s"),
    ];
    let mut stack = Stack::start(pool, &settings).await;
    let key = stack.tenant("acme").await;
    let receiver = Receiver::always(Reply::Delay(Duration::from_millis(300), 200)).await;
    stack.webhook(&key, &receiver.url()).await;
    stack.stop_dispatcher().await;
    for n in 0..2 {
        stack.emit(&key, json!({ "n": n })).await;
    }
    stack.start_dispatcher().await;
    eventually("the first attempt", Duration::from_secs(10), || async {
        (receiver.count() == 1).then_some(())
    })
    .await;
    // The first delivery is claimed and its receiver is still answering: hold its row, so
    // that its record has to wait.
    let mut hold = stack.pool.begin().await.unwrap();
    let (held,): (uuid::Uuid,) =
        sqlx::query_as("SELECT id FROM deliveries WHERE status = 'processing' FOR UPDATE")
            .fetch_one(&mut *hold)
            .await
            .unwrap();
    eventually(
        "the second attempt while the first is unrecorded",
        Duration::from_secs(5),
        || async { (receiver.count() == 2).then_some(()) },
    )
    .await;
    let status: String = sqlx::query_scalar("SELECT status FROM deliveries WHERE id = $1")
        .bind(held)
        .fetch_one(&stack.pool)
        .await
        .unwrap();
    assert_eq!(status, "processing", "the first attempt's record was held");
    hold.rollback().await.unwrap();
    eventually("both recorded", Duration::from_secs(10), || async {
        let done = stack
            .count("SELECT count(*) FROM deliveries WHERE status = 'success'")
            .await;
        (done == 2).then_some(())
    })
    .await;
}

/// Tenants with nothing to deliver hold no process slot: their pullers wait for jobs without
/// one, so a busy tenant beside ten idle ones gets the dispatcher's single slot for every job
/// (when each idle fetch held it for its one-second expiry, not one of the twenty jobs below
/// was delivered within the deadline).
#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn idle_tenants_hold_no_slot(pool: PgPool) {
    let settings = [("HERALD_DISPATCHER_CONCURRENCY", "1")];
    let mut stack = Stack::start(pool, &settings).await;
    for n in 0..10 {
        stack.tenant(&format!("idle-{n}")).await;
    }
    let key = stack.tenant("busy").await;
    let receiver = Receiver::always(Reply::Status(200)).await;
    stack.webhook(&key, &receiver.url()).await;
    // The dispatcher starts with every tenant known and all of the busy one's jobs waiting.
    stack.stop_dispatcher().await;
    for n in 0..20 {
        stack.emit(&key, json!({ "n": n })).await;
    }
    stack.start_dispatcher().await;
    eventually("twenty deliveries", Duration::from_secs(8), || async {
        (receiver.count() == 20).then_some(())
    })
    .await;
}

/// A job that waits for a process slot is still the dispatcher's: it tells JetStream so, as
/// a job being worked does, and is not handed out again however long the wait. Six tenants'
/// jobs queue for one slot while each attempt takes a second; JetStream would hand a job out
/// again after two seconds without word from its dispatcher.
#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_job_waiting_for_a_slot_is_not_handed_out_again(pool: PgPool) {
    let settings = [("HERALD_DISPATCHER_CONCURRENCY", "1")];
    let mut stack = Stack::start(pool, &settings).await;
    let receiver = Receiver::always(Reply::Delay(Duration::from_secs(1), 200)).await;
    let tenants: Vec<String> = (0..6).map(|n| format!("queued-{n}")).collect();
    let mut keys = Vec::new();
    for tenant in &tenants {
        let key = stack.tenant(tenant).await;
        stack.webhook(&key, &receiver.url()).await;
        keys.push(key);
    }
    stack.stop_relay().await;
    stack.stop_dispatcher().await;
    for key in &keys {
        stack.emit(key, json!({ "n": 1 })).await;
    }
    let js = stack.jetstream().await;
    stack.start_dispatcher().await;
    // Three attempts have taken three seconds: the jobs still queued have waited longer than
    // the acknowledgement deadline.
    eventually("three attempts", Duration::from_secs(15), || async {
        (receiver.count() >= 3).then_some(())
    })
    .await;
    let stream = js
        .get_stream(stack.topology().deliveries_stream())
        .await
        .unwrap();
    for tenant in &tenants {
        let name = herald_runtime::jetstream::Topology::consumer_name(tenant);
        let consumer: async_nats::jetstream::consumer::PullConsumer =
            stream.get_consumer(&name).await.unwrap();
        let mut handed_out = consumer
            .fetch()
            .max_messages(1)
            .expires(Duration::from_millis(200))
            .messages()
            .await
            .unwrap();
        if let Some(Ok(message)) = futures::StreamExt::next(&mut handed_out).await {
            let _ = message
                .ack_with(async_nats::jetstream::AckKind::Nak(None))
                .await;
            panic!("{tenant}'s queued job was handed out again");
        }
    }
    eventually("six deliveries", Duration::from_secs(15), || async {
        (receiver.count() == 6).then_some(())
    })
    .await;
}
