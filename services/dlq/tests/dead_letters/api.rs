//! `GET /dlq` and manual retries.

use std::time::Duration;

use herald_test_support::stack::{Stack, first_delivery};
use herald_test_support::{Receiver, Reply, eventually};
use poem::http::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

/// Waits until `GET /dlq` lists `n` dead letters; returns them.
pub async fn wait_for_dlq(stack: &Stack, key: &str, n: usize) -> Vec<Value> {
    eventually(
        &format!("{n} dead letters listed"),
        Duration::from_secs(15),
        || async {
            let page = stack.get(key, "/dlq").await;
            let items = page["items"].as_array().cloned().unwrap_or_default();
            (items.len() == n).then_some(items)
        },
    )
    .await
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_permanent_failure_is_listed_with_its_error(pool: PgPool) {
    let mut stack = Stack::start(pool, &[]).await;
    stack.start_dlq().await;
    let key = stack.tenant("acme").await;
    let receiver = Receiver::always(Reply::Status(400)).await;
    let (webhook, _) = stack.webhook(&key, &receiver.url()).await;
    let answer = stack.emit(&key, json!({ "order_id": "o1" })).await;
    let items = wait_for_dlq(&stack, &key, 1).await;
    let item = &items[0];
    assert_eq!(item["delivery_id"], first_delivery(&answer).as_str());
    assert_eq!(item["webhook_id"], webhook.as_str());
    assert_eq!(item["reason"], "permanent");
    assert_eq!(item["last_error"], "receiver answered HTTP 400");
    assert_eq!(item["last_status_code"], 400);
    assert_eq!(item["attempts"], 1);
    assert_eq!(item["event"]["id"], answer["id"]);
    assert_eq!(item["event"]["type"], "order.created");
    assert_eq!(item["event"]["payload"], json!({ "order_id": "o1" }));
    assert!(item["failed_at"].is_string());
    let filtered = stack
        .get(
            &key,
            &format!("/dlq?webhook_id={webhook}&since=2020-01-01T00:00:00Z"),
        )
        .await;
    assert_eq!(filtered["items"].as_array().unwrap().len(), 1);
    let future = stack.get(&key, "/dlq?since=2999-01-01T00:00:00Z").await;
    assert_eq!(future["items"], json!([]));
    let (status, _) = stack
        .call(Method::GET, "/dlq?webhook_id=nope", &key, None)
        .await;
    assert_eq!(status.as_u16(), 400);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_retry_reaches_the_recovered_receiver_with_the_same_webhook_id(pool: PgPool) {
    let mut stack = Stack::start(pool, &[]).await;
    stack.start_dlq().await;
    let key = stack.tenant("acme").await;
    let failures = vec![Reply::Status(503); 6];
    let receiver = Receiver::start(failures, Reply::Status(200)).await;
    stack.webhook(&key, &receiver.url()).await;
    let delivery = first_delivery(&stack.emit(&key, json!({})).await);
    let items = wait_for_dlq(&stack, &key, 1).await;
    assert_eq!(items[0]["reason"], "exhausted");
    assert_eq!(items[0]["attempts"], 6);

    let path = format!("/dlq/{delivery}/retry");
    let (status, body) = stack.call(Method::POST, &path, &key, None).await;
    assert_eq!(status.as_u16(), 202, "{body}");
    assert_eq!(body["status"], "pending");
    let done = stack
        .wait_for(&key, &delivery, "success", Duration::from_secs(10))
        .await;
    assert_eq!(done["attempt_count"], 7);
    let ids: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.header("webhook-id").unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 7);
    assert!(
        ids.iter().all(|id| *id == delivery),
        "every attempt carries {delivery}: {ids:?}"
    );
    assert_eq!(
        wait_for_dlq(&stack, &key, 0).await.len(),
        0,
        "the retried letter is no longer open"
    );
    assert_eq!(
        stack
            .count("SELECT count(*) FROM dead_letter_queue WHERE closed_at IS NOT NULL")
            .await,
        1
    );

    let (again, body) = stack.call(Method::POST, &path, &key, None).await;
    assert_eq!(again.as_u16(), 409, "{body}");
    assert_eq!(body["error"], "not_dead");
    let (unknown, _) = stack
        .call(
            Method::POST,
            "/dlq/msg_0193a1b2c3d47e8f9a0b1c2d3e4f5a6b/retry",
            &key,
            None,
        )
        .await;
    assert_eq!(unknown.as_u16(), 404);
    assert_eq!(
        stack
            .count("SELECT count(*) FROM audit_log WHERE action = 'dlq.retried'")
            .await,
        1
    );
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_disabled_webhooks_delivery_needs_force(pool: PgPool) {
    let mut stack = Stack::start(pool, &[]).await;
    stack.start_dlq().await;
    let key = stack.tenant("acme").await;
    let receiver = Receiver::start(vec![Reply::Status(410)], Reply::Status(200)).await;
    let (webhook, _) = stack.webhook(&key, &receiver.url()).await;
    let delivery = first_delivery(&stack.emit(&key, json!({})).await);
    assert_eq!(wait_for_dlq(&stack, &key, 1).await[0]["reason"], "gone");

    let path = format!("/dlq/{delivery}/retry");
    let (status, body) = stack.call(Method::POST, &path, &key, None).await;
    assert_eq!(status.as_u16(), 409);
    assert_eq!(body["error"], "webhook_disabled");
    assert!(body["message"].as_str().unwrap().contains("410"), "{body}");
    assert_eq!(
        wait_for_dlq(&stack, &key, 1).await.len(),
        1,
        "a refused retry leaves it open"
    );

    let (status, _) = stack
        .call(Method::POST, &format!("{path}?force=true"), &key, None)
        .await;
    assert_eq!(status.as_u16(), 202);
    stack
        .wait_for(&key, &delivery, "success", Duration::from_secs(10))
        .await;
    assert_eq!(
        stack.get(&key, &format!("/webhooks/{webhook}")).await["enabled"],
        true
    );
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_bulk_retry_starts_deliveries_at_the_requested_rate(pool: PgPool) {
    let mut stack = Stack::start(pool, &[]).await;
    stack.start_dlq().await;
    let key = stack.tenant("acme").await;
    let receiver = Receiver::start(vec![Reply::Status(400); 4], Reply::Status(200)).await;
    stack.webhook(&key, &receiver.url()).await;
    for n in 0..4 {
        stack.emit(&key, json!({ "n": n })).await;
    }
    wait_for_dlq(&stack, &key, 4).await;
    let (status, body) = stack
        .call(
            Method::POST,
            "/dlq/retry",
            &key,
            Some(json!({ "per_second": 2 })),
        )
        .await;
    assert_eq!(status.as_u16(), 202, "{body}");
    assert_eq!(body["retried"], 4);
    assert_eq!(body["spread_seconds"], 1.5);
    eventually(
        "the retried deliveries to succeed",
        Duration::from_secs(20),
        || async {
            (stack
                .count("SELECT count(*) FROM deliveries WHERE status = 'success'")
                .await
                == 4)
                .then_some(())
        },
    )
    .await;
    let retried = &receiver.received()[4..];
    let spread = retried.last().unwrap().at - retried.first().unwrap().at;
    assert!(
        spread >= Duration::from_millis(1400),
        "4 at 2/s took {spread:?}"
    );
    let (status, _) = stack
        .call(
            Method::POST,
            "/dlq/retry",
            &key,
            Some(json!({ "per_second": 0 })),
        )
        .await;
    assert_eq!(status.as_u16(), 400);
}
