//! The safety net: jobs JetStream gives up on are dead-lettered from the advisory, and dead
//! letters handed off while the DLQ service is down are written when it is back.

use std::time::{Duration, Instant};

use async_nats::jetstream::AckKind;
use async_nats::jetstream::consumer::pull;
use futures::StreamExt;
use herald_runtime::jetstream::Topology;
use herald_test_support::stack::Stack;
use herald_test_support::{Receiver, Reply, eventually};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::api::wait_for_dlq;

/// Plays a dispatcher that dies holding the job, again and again: each fetch is NAK'd
/// without an attempt, until JetStream gives up and the DLQ service has dead-lettered it.
async fn crash_loop(stack: &Stack, tenant: &str) {
    let js = stack.jetstream().await;
    let stream = js
        .get_stream(stack.topology().deliveries_stream())
        .await
        .unwrap();
    let consumer = stream
        .get_consumer::<pull::Config>(&Topology::consumer_name(tenant))
        .await
        .unwrap();
    let started = Instant::now();
    // On 2.9.10 the MAX_DELIVERIES advisory is only raised while a pull request waits, so
    // keep asking until the job is gone.
    while stack.count("SELECT count(*) FROM dead_letter_queue").await == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "JetStream never gave up on the job"
        );
        let mut batch = consumer
            .fetch()
            .max_messages(1)
            .expires(Duration::from_millis(300))
            .messages()
            .await
            .unwrap();
        while let Some(Ok(message)) = batch.next().await {
            message.ack_with(AckKind::Nak(None)).await.unwrap();
        }
    }
}

/// A stack whose dispatcher is stopped and DLQ service running, with `webhooks` webhooks of
/// one tenant on one receiver and one event emitted to them: the key, receiver and answer.
async fn one_event_held(pool: PgPool, webhooks: usize) -> (Stack, String, Receiver, Value) {
    let mut stack = Stack::start(pool, &[("HERALD_MAX_DELIVER", "3")]).await;
    stack.stop_dispatcher().await;
    stack.start_dlq().await;
    let key = stack.tenant("acme").await;
    let receiver = Receiver::always(Reply::Status(200)).await;
    for _ in 0..webhooks {
        stack.webhook(&key, &receiver.url()).await;
    }
    let answer = stack.emit(&key, json!({})).await;
    (stack, key, receiver, answer)
}

/// After the dead-lettering: the message is deleted from the stream, and a dispatcher that
/// starts afterwards sends nothing.
async fn nothing_left_to_send(mut stack: Stack, receiver: &Receiver) {
    let deliveries_stream = stack.topology().deliveries_stream();
    eventually(
        "the abandoned message to be deleted",
        Duration::from_secs(10),
        || async { (stack.stream_messages(&deliveries_stream).await == 0).then_some(()) },
    )
    .await;
    stack.start_dispatcher().await;
    assert_eq!(receiver.count(), 0, "nothing is sent after the fact");
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_job_the_dispatcher_keeps_dying_on_is_dead_lettered_once(pool: PgPool) {
    let (stack, key, receiver, answer) = one_event_held(pool, 1).await;
    crash_loop(&stack, "acme").await;
    let items = wait_for_dlq(&stack, &key, 1).await;
    assert_eq!(items[0]["reason"], "redelivery_limit");
    assert_eq!(items[0]["event"]["id"], answer["id"]);
    let delivery = items[0]["delivery_id"].as_str().unwrap().to_owned();
    assert_eq!(
        stack.get(&key, &format!("/deliveries/{delivery}")).await["status"],
        "failed"
    );

    // The same advisory again (a redelivery of it) changes nothing.
    let advisories = stack.topology().advisories_stream();
    let js = stack.jetstream().await;
    let stored = js
        .get_stream(&advisories)
        .await
        .unwrap()
        .get_raw_message(1)
        .await
        .unwrap();
    js.publish(stored.subject.to_string(), stored.payload.clone())
        .await
        .unwrap()
        .await
        .unwrap();
    eventually(
        "the repeated advisory to be handled",
        Duration::from_secs(10),
        || async {
            let info = js
                .get_stream(&advisories)
                .await
                .ok()?
                .get_consumer::<pull::Config>("dlq_advisories")
                .await
                .ok()?
                .info()
                .await
                .ok()?
                .clone();
            (info.num_pending == 0
                && info.num_ack_pending == 0
                && info.delivered.stream_sequence >= 2)
                .then_some(())
        },
    )
    .await;
    assert_eq!(
        stack.count("SELECT count(*) FROM dead_letter_queue").await,
        1,
        "no duplicate row"
    );
    nothing_left_to_send(stack, &receiver).await;
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_bundle_the_dispatcher_keeps_dying_on_dead_letters_each_of_its_jobs(pool: PgPool) {
    let (stack, key, receiver, answer) = one_event_held(pool, 2).await;
    assert_eq!(
        stack
            .stream_messages(&stack.topology().deliveries_stream())
            .await,
        1,
        "the event's two jobs in one message"
    );

    crash_loop(&stack, "acme").await;
    let items = wait_for_dlq(&stack, &key, 2).await;
    let mut listed: Vec<&str> = items
        .iter()
        .map(|item| {
            assert_eq!(item["reason"], "redelivery_limit");
            item["delivery_id"].as_str().unwrap()
        })
        .collect();
    listed.sort();
    let mut emitted: Vec<&str> = answer["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    emitted.sort();
    assert_eq!(listed, emitted);
    nothing_left_to_send(stack, &receiver).await;
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn letters_handed_off_while_the_dlq_service_is_down_appear_after_it_starts(pool: PgPool) {
    let mut stack = Stack::start(pool, &[]).await;
    let key = stack.tenant("acme").await;
    let receiver = Receiver::always(Reply::Status(422)).await;
    stack.webhook(&key, &receiver.url()).await;
    for n in 0..3 {
        stack.emit(&key, json!({ "n": n })).await;
    }
    eventually(
        "three hand-offs stored",
        Duration::from_secs(10),
        || async { (stack.dead_letters().await == 3).then_some(()) },
    )
    .await;
    assert_eq!(
        stack.get(&key, "/dlq").await["items"],
        json!([]),
        "nothing written yet"
    );
    stack.start_dlq().await;
    wait_for_dlq(&stack, &key, 3).await;
    eventually(
        "the hand-offs to be consumed",
        Duration::from_secs(10),
        || async { (stack.dead_letters().await == 0).then_some(()) },
    )
    .await;
}
