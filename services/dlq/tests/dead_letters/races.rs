//! The races of the dead-letter path: each is forced here and must leave one row per dead
//! delivery and generation, and one job per retry.

use std::time::Duration;

use async_nats::jetstream::message::PublishMessage;
use herald_domain::job::DeadLetter;
use herald_test_support::stack::{Stack, first_delivery};
use herald_test_support::{Receiver, Reply, eventually};
use poem::http::Method;
use serde_json::json;
use sqlx::PgPool;

use crate::api::wait_for_dlq;

/// The stored hand-off of the test's one dead delivery.
async fn stored_letter(stack: &Stack) -> (String, DeadLetter) {
    let js = stack.jetstream().await;
    let stream = js
        .get_stream(stack.topology().dead_letters_stream())
        .await
        .unwrap();
    let raw = stream.get_raw_message(1).await.unwrap();
    (
        raw.subject.to_string(),
        serde_json::from_slice(&raw.payload).unwrap(),
    )
}

/// Publishes a hand-off again, under a new message id (as past the duplicate window).
async fn hand_off_again(stack: &Stack, subject: &str, letter: &DeadLetter, id: &str) {
    let message = PublishMessage::build()
        .payload(serde_json::to_vec(letter).unwrap().into())
        .message_id(id);
    stack
        .jetstream()
        .await
        .send_publish(subject.to_owned(), message)
        .await
        .unwrap()
        .await
        .unwrap();
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn two_retries_at_once_make_one_job(pool: PgPool) {
    let mut stack = Stack::start(pool, &[]).await;
    stack.start_dlq().await;
    let key = stack.tenant("acme").await;
    let receiver = Receiver::start(vec![Reply::Status(400)], Reply::Status(200)).await;
    stack.webhook(&key, &receiver.url()).await;
    let delivery = first_delivery(&stack.emit(&key, json!({})).await);
    wait_for_dlq(&stack, &key, 1).await;
    let path = format!("/dlq/{delivery}/retry");
    let (a, b) = tokio::join!(
        stack.call(Method::POST, &path, &key, None),
        stack.call(Method::POST, &path, &key, None)
    );
    let mut statuses = [a.0.as_u16(), b.0.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [202, 409]);
    stack
        .wait_for(&key, &delivery, "success", Duration::from_secs(10))
        .await;
    assert_eq!(receiver.count(), 2, "one failed attempt, one retry");
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_late_hand_off_during_a_retry_writes_nothing(pool: PgPool) {
    let mut stack = Stack::start(pool, &[]).await;
    let key = stack.tenant("acme").await;
    let receiver = Receiver::start(
        vec![Reply::Status(400)],
        Reply::Delay(Duration::from_millis(500), 200),
    )
    .await;
    stack.webhook(&key, &receiver.url()).await;
    let delivery = first_delivery(&stack.emit(&key, json!({})).await);
    eventually("the hand-off", Duration::from_secs(10), || async {
        (stack.dead_letters().await == 1).then_some(())
    })
    .await;
    let (subject, letter) = stored_letter(&stack).await;
    stack.start_dlq().await;
    wait_for_dlq(&stack, &key, 1).await;

    let (status, _) = stack
        .call(Method::POST, &format!("/dlq/{delivery}/retry"), &key, None)
        .await;
    assert_eq!(status.as_u16(), 202);
    // The old generation's hand-off arrives again while the retry is in flight.
    hand_off_again(&stack, &subject, &letter, "late-hand-off").await;
    stack
        .wait_for(&key, &delivery, "success", Duration::from_secs(10))
        .await;
    eventually(
        "the late hand-off to be consumed",
        Duration::from_secs(10),
        || async { (stack.dead_letters().await == 0).then_some(()) },
    )
    .await;
    assert_eq!(
        stack.count("SELECT count(*) FROM dead_letter_queue").await,
        1
    );
    assert_eq!(stack.get(&key, "/dlq").await["items"], json!([]));
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_hand_off_and_an_advisory_for_one_delivery_write_one_row(pool: PgPool) {
    let mut stack = Stack::start(pool, &[]).await;
    stack.start_dlq().await;
    let key = stack.tenant("acme").await;
    let receiver = Receiver::always(Reply::Status(404)).await;
    stack.webhook(&key, &receiver.url()).await;
    let answer = stack.emit(&key, json!({})).await;
    wait_for_dlq(&stack, &key, 1).await;

    // The job as JetStream held it, and an advisory that JetStream gave up on it.
    let job = stack.only_job().await;
    let js = stack.jetstream().await;
    let topology = stack.topology();
    let webhook = herald_domain::WebhookId::from_uuid(job.webhook_id).to_string();
    // Published on a subject no consumer filters, so it stays for the advisory to find.
    let stray = format!("{}.deliveries.nobody.{webhook}", topology.prefix());
    let ack = js
        .publish(stray, serde_json::to_vec(&job).unwrap().into())
        .await
        .unwrap()
        .await
        .unwrap();
    let advisory = json!({
        "type": "io.nats.jetstream.advisory.v1.max_deliver",
        "stream": topology.deliveries_stream(),
        "consumer": "tenant_acme",
        "stream_seq": ack.sequence,
        "deliveries": 3,
    });
    let subject = format!(
        "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{}.tenant_acme",
        topology.deliveries_stream()
    );
    js.publish(subject, serde_json::to_vec(&advisory).unwrap().into())
        .await
        .unwrap()
        .await
        .unwrap();

    let deliveries_stream = topology.deliveries_stream();
    eventually(
        "the advised job to be deleted",
        Duration::from_secs(10),
        || async { (stack.stream_messages(&deliveries_stream).await == 0).then_some(()) },
    )
    .await;
    assert_eq!(
        stack.count("SELECT count(*) FROM dead_letter_queue").await,
        1
    );
    let listed = stack.get(&key, "/dlq").await;
    assert_eq!(
        listed["items"][0]["reason"], "permanent",
        "the dispatcher's letter stands"
    );
    assert_eq!(
        listed["items"][0]["delivery_id"],
        first_delivery(&answer).as_str()
    );
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_dlq_service_killed_after_writing_the_row_writes_it_once(pool: PgPool) {
    let mut stack = Stack::start(pool, &[]).await;
    let key = stack.tenant("acme").await;
    let receiver = Receiver::always(Reply::Status(400)).await;
    stack.webhook(&key, &receiver.url()).await;
    stack.emit(&key, json!({})).await;
    eventually("the hand-off", Duration::from_secs(10), || async {
        (stack.dead_letters().await == 1).then_some(())
    })
    .await;

    // The row is written, then the service dies before acking the hand-off.
    let (_, letter) = stored_letter(&stack).await;
    assert!(
        herald_dlq::store::record(&stack.pool, &letter)
            .await
            .unwrap()
    );
    stack.start_dlq().await;
    eventually(
        "the hand-off to be consumed",
        Duration::from_secs(10),
        || async { (stack.dead_letters().await == 0).then_some(()) },
    )
    .await;
    assert_eq!(
        stack.count("SELECT count(*) FROM dead_letter_queue").await,
        1
    );
    assert_eq!(wait_for_dlq(&stack, &key, 1).await.len(), 1);
}
