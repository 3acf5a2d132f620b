//! `max_dlq_size`: a full DLQ refuses new events (429 `dlq_quota_exceeded`) without dropping
//! anything already accepted, until the tenant retries or discards dead letters.

use std::time::Duration;

use herald_test_support::stack::{ADMIN, Stack, first_delivery};
use herald_test_support::{Receiver, Reply, eventually};
use poem::http::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::api::wait_for_dlq;

async fn try_emit(stack: &Stack, key: &str) -> (u16, Value) {
    let body = json!({ "type": "order.created", "payload": {} });
    let (status, body) = stack.call(Method::POST, "/events", key, Some(body)).await;
    (status.as_u16(), body)
}

async fn dlq_usage(stack: &Stack, key: &str) -> i64 {
    stack.get(key, "/quotas/acme").await["usage"]["dlq_size"]
        .as_i64()
        .unwrap()
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_full_dlq_refuses_events_until_the_tenant_retries_or_discards(pool: PgPool) {
    let mut stack = Stack::start(pool, &[]).await;
    stack.start_dlq().await;
    let key = stack.tenant("acme").await;
    let quotas = json!({ "max_dlq_size": 2 });
    let (status, _) = stack
        .call(
            Method::PUT,
            "/admin/tenants/acme/quotas",
            ADMIN,
            Some(quotas),
        )
        .await;
    assert_eq!(status.as_u16(), 200);
    let receiver = Receiver::start(
        vec![Reply::Status(400), Reply::Status(400)],
        Reply::Status(200),
    )
    .await;
    stack.webhook(&key, &receiver.url()).await;
    let first = first_delivery(&stack.emit(&key, json!({})).await);
    let second = first_delivery(&stack.emit(&key, json!({})).await);
    wait_for_dlq(&stack, &key, 2).await;
    assert_eq!(dlq_usage(&stack, &key).await, 2);

    let refused = eventually("events refused", Duration::from_secs(5), || async {
        let (status, body) = try_emit(&stack, &key).await;
        (status == 429).then_some(body)
    })
    .await;
    assert_eq!(refused["error"], "dlq_quota_exceeded");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("max_dlq_size")
    );
    // Nothing already accepted was dropped: both dead letters are still there.
    assert_eq!(wait_for_dlq(&stack, &key, 2).await.len(), 2);

    // One retried (the receiver now takes it), one discarded: room again.
    let (status, _) = stack
        .call(Method::POST, &format!("/dlq/{first}/retry"), &key, None)
        .await;
    assert_eq!(status.as_u16(), 202);
    stack
        .wait_for(&key, &first, "success", Duration::from_secs(10))
        .await;
    let (status, _) = stack
        .call(Method::DELETE, &format!("/dlq/{second}"), &key, None)
        .await;
    assert_eq!(status.as_u16(), 204);
    let (status, _) = stack
        .call(Method::DELETE, &format!("/dlq/{second}"), &key, None)
        .await;
    assert_eq!(status.as_u16(), 404, "discarded once");
    let discarded = stack.get(&key, &format!("/deliveries/{second}")).await;
    assert_eq!(
        discarded["status"], "failed",
        "a discarded delivery stays failed"
    );
    assert_eq!(dlq_usage(&stack, &key).await, 0);
    wait_for_dlq(&stack, &key, 0).await;
    eventually("events accepted again", Duration::from_secs(5), || async {
        (try_emit(&stack, &key).await.0 == 201).then_some(())
    })
    .await;
}
