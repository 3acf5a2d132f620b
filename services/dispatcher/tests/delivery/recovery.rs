//! Nothing accepted is stranded: dispatcher down, NATS down, duplicate jobs, shutdown.

use std::collections::HashSet;
use std::time::Duration;

use async_nats::jetstream::message::PublishMessage;
use herald_domain::job::DeliveryJob;
use herald_runtime::jetstream::Topology;
use herald_test_support::{Receiver, Reply, eventually};
use serde_json::json;
use sqlx::PgPool;

use herald_test_support::stack::{Stack, connect, first_delivery};

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn events_emitted_while_the_dispatcher_is_down_all_drain(pool: PgPool) {
    let mut stack = Stack::start(pool, &[]).await;
    let key = stack.tenant("acme").await;
    let receiver = Receiver::always(Reply::Status(200)).await;
    stack.webhook(&key, &receiver.url()).await;
    stack.stop_dispatcher().await;
    for n in 0..100 {
        stack.emit(&key, json!({ "n": n })).await;
    }
    assert_eq!(receiver.count(), 0);
    stack.start_dispatcher().await;
    eventually(
        "100 deliveries to succeed",
        Duration::from_secs(30),
        || async {
            (stack
                .count("SELECT count(*) FROM deliveries WHERE status = 'success'")
                .await
                == 100)
                .then_some(())
        },
    )
    .await;
    let ids: HashSet<String> = receiver
        .received()
        .iter()
        .map(|r| r.header("webhook-id").unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 100);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn events_accepted_while_nats_is_down_go_out_after_recovery(pool: PgPool) {
    let mut stack = Stack::start(pool, &[]).await;
    let key = stack.tenant("acme").await;
    let receiver = Receiver::always(Reply::Status(200)).await;
    stack.webhook(&key, &receiver.url()).await;

    stack.nats.stop();
    let mut deliveries = Vec::new();
    for n in 0..3 {
        deliveries.push(first_delivery(&stack.emit(&key, json!({ "n": n })).await));
    }
    let unpublished = stack.count("SELECT count(*) FROM event_outbox").await;
    assert_eq!(unpublished, 3, "accepted and stored, not yet on JetStream");

    stack.nats.resume().expect("nats-server restarts");
    for delivery in &deliveries {
        stack
            .wait_for(&key, delivery, "success", Duration::from_secs(30))
            .await;
    }
    assert_eq!(receiver.count(), 3);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_job_for_a_delivered_delivery_sends_nothing(pool: PgPool) {
    let stack = Stack::start(pool, &[]).await;
    let key = stack.tenant("acme").await;
    let receiver = Receiver::always(Reply::Status(200)).await;
    stack.webhook(&key, &receiver.url()).await;
    let answer = stack.emit(&key, json!({})).await;
    let delivery = first_delivery(&answer);
    stack
        .wait_for(&key, &delivery, "success", Duration::from_secs(10))
        .await;

    // The same job again, past the duplicate window (a new message id), as a redelivery.
    let job = stack.only_job().await;
    let js = herald_runtime::jetstream::context(connect(&stack.config).await);
    let topology = Topology::new(&stack.config.nats_prefix);
    let webhook = herald_domain::WebhookId::from_uuid(job.webhook_id).to_string();
    let message = PublishMessage::build()
        .payload(serde_json::to_vec(&job).unwrap().into())
        .message_id("redelivery-probe");
    js.send_publish(topology.job_subject("acme", &webhook), message)
        .await
        .unwrap()
        .await
        .unwrap();

    let stream = js.get_stream(topology.deliveries_stream()).await.unwrap();
    let consumer = stream
        .get_consumer::<async_nats::jetstream::consumer::pull::Config>(&Topology::consumer_name(
            "acme",
        ))
        .await
        .unwrap();
    eventually(
        "the repeated job to be worked and acked",
        Duration::from_secs(10),
        || {
            let mut consumer = consumer.clone();
            async move {
                let info = consumer.info().await.ok()?;
                (info.num_pending == 0
                    && info.num_ack_pending == 0
                    && info.delivered.stream_sequence >= 2)
                    .then_some(())
            }
        },
    )
    .await;
    assert_eq!(receiver.count(), 1, "nothing was sent again");
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn shutdown_lets_an_attempt_in_flight_finish(pool: PgPool) {
    let mut stack = Stack::start(pool, &[]).await;
    let key = stack.tenant("acme").await;
    let receiver = Receiver::always(Reply::Delay(Duration::from_millis(800), 200)).await;
    stack.webhook(&key, &receiver.url()).await;
    let delivery = first_delivery(&stack.emit(&key, json!({})).await);
    eventually(
        "the attempt to be in flight",
        Duration::from_secs(10),
        || async { (receiver.count() == 1).then_some(()) },
    )
    .await;
    let took = stack.stop_dispatcher().await;
    assert!(took < Duration::from_secs(8), "drained in {took:?}");
    let done = stack.get(&key, &format!("/deliveries/{delivery}")).await;
    assert_eq!(
        done["status"], "success",
        "the attempt in flight was finished and recorded"
    );
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn the_worker_step_is_idempotent(pool: PgPool) {
    let mut stack = Stack::start(pool, &[]).await;
    stack.stop_dispatcher().await;
    let key = stack.tenant("acme").await;
    let receiver = Receiver::always(Reply::Status(200)).await;
    stack.webhook(&key, &receiver.url()).await;
    stack.emit(&key, json!({})).await;
    let job = stack.only_job().await;
    let mut registry = prometheus_client::registry::Registry::default();
    let worker = herald_dispatcher::supervisor(
        &stack.config,
        stack.pool.clone(),
        connect(&stack.config).await,
        &mut registry,
    )
    .unwrap()
    .worker;
    use herald_dispatcher::worker::Outcome;
    assert_eq!(worker.work(&job, "acme").await.unwrap(), Outcome::Delivered);
    assert_eq!(worker.work(&job, "acme").await.unwrap(), Outcome::Skip);
    let stale = DeliveryJob {
        generation: 7,
        ..job
    };
    assert_eq!(worker.work(&stale, "acme").await.unwrap(), Outcome::Skip);
    assert_eq!(receiver.count(), 1, "the delivery was sent once");
}

/// A claim lasts one ack wait, far shorter than an attempt may take, so that a dead
/// dispatcher's deliveries are soon claimable again; a live dispatcher renews its own while
/// the attempt runs, and nobody else sends the delivery meanwhile.
#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn an_attempt_longer_than_the_ack_wait_keeps_its_claim(pool: PgPool) {
    let settings = [
        ("HERALD_ACK_WAIT", "1s"),
        ("HERALD_DELIVERY_TIMEOUT", "10s"),
    ];
    let mut stack = Stack::start(pool, &settings).await;
    stack.stop_dispatcher().await;
    let key = stack.tenant("acme").await;
    let receiver = Receiver::always(Reply::Delay(Duration::from_secs(3), 200)).await;
    stack.webhook(&key, &receiver.url()).await;
    stack.emit(&key, json!({})).await;
    let job = stack.only_job().await;
    let worker = || async {
        let mut registry = prometheus_client::registry::Registry::default();
        herald_dispatcher::supervisor(
            &stack.config,
            stack.pool.clone(),
            connect(&stack.config).await,
            &mut registry,
        )
        .unwrap()
        .worker
    };
    let (first, second) = (worker().await, worker().await);
    let attempt = tokio::spawn(async move { first.work(&job, "acme").await.unwrap() });
    eventually(
        "the attempt to be in flight",
        Duration::from_secs(10),
        || async { (receiver.count() == 1).then_some(()) },
    )
    .await;
    // Wait until the first lease has run out and the claim has been renewed twice since:
    // without renewals another dispatcher could claim the delivery now.
    let lease_of = || async {
        sqlx::query_scalar::<_, chrono::DateTime<chrono::Utc>>(
            "SELECT lease_until FROM deliveries WHERE id = $1",
        )
        .bind(job.delivery_id)
        .fetch_one(&stack.pool)
        .await
        .unwrap()
    };
    let first_lease = lease_of().await;
    eventually(
        "the first lease to run out, renewed twice",
        Duration::from_secs(10),
        || async {
            let renewed = lease_of().await - first_lease > chrono::Duration::milliseconds(600);
            (renewed && chrono::Utc::now() > first_lease).then_some(())
        },
    )
    .await;
    use herald_dispatcher::worker::Outcome;
    let meanwhile = second.work(&job, "acme").await.unwrap();
    assert!(
        matches!(meanwhile, Outcome::Defer(_)),
        "a second dispatcher is told to wait, not handed the delivery: {meanwhile:?}"
    );
    assert_eq!(attempt.await.unwrap(), Outcome::Delivered);
    assert_eq!(receiver.count(), 1, "the delivery was sent once");
}
