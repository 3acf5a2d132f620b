//! A tenant's lifecycle as the dispatcher sees it: suspension pauses its deliveries without
//! losing any, and its own retry schedule replaces the platform's.
//! A tenant added or resumed while a dispatcher runs is served without waiting for its next
//! discovery pass. A disabled tenant's backlog gauges go with its consumer.

use std::collections::HashSet;
use std::time::Duration;

use herald_test_support::{Receiver, Reply, eventually};
use poem::http::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use herald_test_support::stack::{ADMIN, Stack, first_delivery};

async fn patch_tenant(stack: &Stack, tenant: &str, body: Value) {
    let path = format!("/admin/tenants/{tenant}");
    let (status, answer) = stack.call(Method::PATCH, &path, ADMIN, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
}

/// A tenant with one webhook pointing at a receiver that accepts everything.
async fn tenant_with_receiver(stack: &Stack, name: &str) -> (String, Receiver) {
    let key = stack.tenant(name).await;
    let receiver = Receiver::always(Reply::Status(200)).await;
    stack.webhook(&key, &receiver.url()).await;
    (key, receiver)
}

/// A dispatcher whose periodic discovery pass runs at its start and then not for an hour.
async fn start_dispatcher_passing_once(stack: &mut Stack) {
    stack
        .start_dispatcher_with(|supervisor| {
            supervisor.discovery_interval = Duration::from_secs(3600);
        })
        .await;
}

async fn received(what: &str, receiver: &Receiver, count: usize) {
    eventually(what, Duration::from_secs(10), || async {
        (receiver.count() == count).then_some(())
    })
    .await;
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_suspended_tenants_deliveries_wait_then_arrive_once_each(pool: PgPool) {
    let mut stack = Stack::start(pool, &[]).await;
    let (key, receiver) = tenant_with_receiver(&stack, "acme").await;
    let (other_key, other) = tenant_with_receiver(&stack, "other").await;
    // Suspended before the dispatcher starts, so it is in force before the first event (a
    // running dispatcher learns of a change from ingest's announcement; resuming below is).
    stack.stop_dispatcher().await;
    patch_tenant(&stack, "acme", json!({ "status": "suspended" })).await;
    stack.start_dispatcher().await;

    let mut waiting = Vec::new();
    for n in 0..5 {
        waiting.push(first_delivery(&stack.emit(&key, json!({ "n": n })).await));
        stack.emit(&other_key, json!({ "n": n })).await;
    }
    eventually(
        "the other tenant's deliveries",
        Duration::from_secs(10),
        || async { (other.count() == 5).then_some(()) },
    )
    .await;
    eventually("the other tenant's deliveries recorded", Duration::from_secs(5), || async {
        let done = stack
            .count("SELECT count(*) FROM deliveries d JOIN tenants t ON t.id = d.tenant_id WHERE t.name = 'other' AND d.status = 'success'")
            .await;
        (done == 5).then_some(())
    })
    .await;
    let untouched = stack
        .count("SELECT count(*) FROM deliveries d JOIN tenants t ON t.id = d.tenant_id WHERE t.name = 'acme' AND d.status = 'pending' AND d.attempts = 0")
        .await;
    assert_eq!(
        untouched, 5,
        "the suspended tenant's deliveries wait, unattempted"
    );
    assert_eq!(
        receiver.count(),
        0,
        "nothing reached the suspended tenant's receiver"
    );

    patch_tenant(&stack, "acme", json!({ "status": "active" })).await;
    // The puller idles at a cap of 0 and wakes when the next discovery pass (every second)
    // raises it.
    eventually(
        "the resumed tenant's deliveries",
        Duration::from_secs(5),
        || async { (receiver.count() >= 5).then_some(()) },
    )
    .await;
    for delivery in &waiting {
        let done = stack
            .wait_for(&key, delivery, "success", Duration::from_secs(5))
            .await;
        assert_eq!(done["attempt_count"], 1);
    }
    let ids: HashSet<String> = receiver
        .received()
        .iter()
        .map(|r| r.header("webhook-id").unwrap().to_owned())
        .collect();
    assert_eq!(receiver.count(), 5, "each delivery arrived once");
    assert_eq!(ids.len(), 5);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_tenants_own_retry_schedule_replaces_the_platforms(pool: PgPool) {
    // The platform waits 2 s between attempts; the tenant 100 ms, then 200 ms.
    let stack = Stack::start(pool, &[("HERALD_RETRY_SCHEDULE", "2s,2s,2s,2s")]).await;
    let key = stack.tenant("acme").await;
    patch_tenant(
        &stack,
        "acme",
        json!({ "retry_schedule": ["100ms", "200ms"] }),
    )
    .await;
    let receiver = Receiver::always(Reply::Status(503)).await;
    stack.webhook(&key, &receiver.url()).await;
    let delivery = first_delivery(&stack.emit(&key, json!({})).await);

    let failed = stack
        .wait_for(&key, &delivery, "failed", Duration::from_secs(10))
        .await;
    assert_eq!(failed["attempt_count"], 3, "two delays: three attempts");
    let received = receiver.received();
    assert_eq!(received.len(), 3);
    for (i, scheduled) in [100, 200].into_iter().enumerate() {
        let gap = received[i + 1].at - received[i].at;
        let scheduled = Duration::from_millis(scheduled);
        assert!(
            gap >= scheduled,
            "gap {i} was {gap:?}, scheduled {scheduled:?}"
        );
        // Jitter adds at most 10%; the platform's 2 s would be far beyond the allowance.
        assert!(
            gap <= scheduled.mul_f64(1.1) + Duration::from_millis(1000),
            "gap {i} was {gap:?}"
        );
    }
    eventually("the dead letter", Duration::from_secs(5), || async {
        (stack.dead_letters().await == 1).then_some(())
    })
    .await;
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_tenant_added_while_dispatching_is_served_without_waiting_for_a_discovery_pass(
    pool: PgPool,
) {
    let mut stack = Stack::start(pool, &[]).await;
    let (early_key, early) = tenant_with_receiver(&stack, "early").await;
    stack.stop_dispatcher().await;
    start_dispatcher_passing_once(&mut stack).await;
    // The early tenant's delivery shows the start's pass is over, so only the advisory for
    // the late tenant's new consumer can find it.
    stack.emit(&early_key, json!({})).await;
    received("the early tenant's delivery", &early, 1).await;

    let (late_key, late) = tenant_with_receiver(&stack, "late").await;
    stack.emit(&late_key, json!({})).await;
    received("the late tenant's delivery", &late, 1).await;
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn resuming_a_tenant_takes_effect_without_waiting_for_a_discovery_pass(pool: PgPool) {
    let mut stack = Stack::start(pool, &[]).await;
    let (key, receiver) = tenant_with_receiver(&stack, "acme").await;
    let (other_key, other) = tenant_with_receiver(&stack, "other").await;
    stack.stop_dispatcher().await;
    patch_tenant(&stack, "acme", json!({ "status": "suspended" })).await;
    start_dispatcher_passing_once(&mut stack).await;
    stack.emit(&key, json!({})).await;
    stack.emit(&other_key, json!({})).await;
    // The other tenant's delivery shows the start's pass is over.
    received("the other tenant's delivery", &other, 1).await;
    assert_eq!(receiver.count(), 0, "the suspended tenant's delivery waits");

    // Only ingest's announcement of the change can wake the puller now.
    patch_tenant(&stack, "acme", json!({ "status": "active" })).await;
    received("the resumed tenant's delivery", &receiver, 1).await;
}

/// The per-tenant backlog gauges as the dispatcher would export them.
fn backlog_series(metrics: &herald_dispatcher::metrics::DispatchMetrics) -> String {
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register("pending", "jobs waiting", metrics.queue_depth.clone());
    registry.register("unacked", "jobs in flight", metrics.ack_pending.clone());
    registry.register(
        "cap",
        "deliveries allowed in flight",
        metrics.tenant_cap.clone(),
    );
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    text
}

/// A suspended tenant's backlog is shown with its cap of 0 (what the dispatchers are scaled
/// on leaves it out); a disabled tenant's series go.
#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_disabled_tenants_backlog_gauges_are_dropped(pool: PgPool) {
    let mut stack = Stack::start(pool, &[]).await;
    let (key, _receiver) = tenant_with_receiver(&stack, "leaving").await;
    tenant_with_receiver(&stack, "staying").await;
    stack.stop_dispatcher().await;
    patch_tenant(&stack, "leaving", json!({ "status": "suspended" })).await;
    stack.emit(&key, json!({})).await;
    let mut metrics = None;
    stack
        .start_dispatcher_with(|supervisor| {
            supervisor.discovery_interval = Duration::from_millis(200);
            metrics = Some(supervisor.worker.metrics.clone());
        })
        .await;
    let metrics = metrics.expect("the dispatcher's metrics");
    eventually(
        "the suspended tenant's waiting job counted, beside its cap of 0",
        Duration::from_secs(10),
        || async {
            let text = backlog_series(&metrics);
            (text.contains(r#"pending{tenant="leaving"} 1"#)
                && text.contains(r#"cap{tenant="leaving"} 0"#)
                && text.contains(r#"cap{tenant="staying"} 20"#))
            .then_some(())
        },
    )
    .await;

    let (status, answer) = stack
        .call(Method::DELETE, "/admin/tenants/leaving", ADMIN, None)
        .await;
    assert!(status.is_success(), "{status}: {answer:#}");
    eventually(
        "the disabled tenant's series gone",
        Duration::from_secs(10),
        || async {
            let text = backlog_series(&metrics);
            (!text.contains(r#"tenant="leaving""#)).then_some(())
        },
    )
    .await;
    let text = backlog_series(&metrics);
    assert!(text.contains(r#"pending{tenant="staying"}"#), "{text}");
}
