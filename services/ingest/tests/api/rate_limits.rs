//! `events_per_second` and `burst`: 429 with `Retry-After` past them, per tenant, and held
//! across ingest replicas within the bound docs/design.md states.

use std::time::{Duration, Instant};

use poem::http::Method;
use serde_json::json;
use sqlx::PgPool;

use herald_test_support::eventually;

use crate::helpers::{TestApp, spawn_app};

async fn set_rate(app: &TestApp, tenant: &str, per_second: u32, burst: u32) {
    let quotas = json!({ "events_per_second": per_second, "burst": burst });
    app.admin(
        Method::PUT,
        &format!("/admin/tenants/{tenant}/quotas"),
        Some(quotas),
    )
    .await
    .expect(200);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn over_the_rate_a_tenant_gets_429_with_retry_after_and_others_do_not(pool: PgPool) {
    let app = spawn_app(pool).await;
    let a = app.tenant("tenant-a").await;
    let b = app.tenant("tenant-b").await;
    for key in [&a, &b] {
        app.event_type(key, "order.created").await;
    }
    set_rate(&app, "tenant-a", 2, 3).await;

    for _ in 0..3 {
        app.emit(&a, "order.created", json!({})).await.expect(201);
    }
    let refused = app.emit(&a, "order.created", json!({})).await.expect(429);
    assert_eq!(refused.error(), "rate_limited");
    assert!(
        refused.message().contains("events_per_second"),
        "{}",
        refused.message()
    );
    let retry_after: u64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");

    // Tenant B's own rate is untouched by A's.
    for _ in 0..10 {
        app.emit(&b, "order.created", json!({})).await.expect(201);
    }
    let usage = app.get(&b, "/quotas/tenant-b").await.expect(200);
    let rate = usage.body["usage"]["events_per_second"].as_f64().unwrap();
    assert!(rate >= 1.0, "10 events in the last 10 s: {rate}");
    let metrics = app.call(Method::GET, "/metrics", None, None).await;
    let text = metrics.body.as_str().unwrap_or_default().to_owned();
    assert!(
        text.contains(
            r#"herald_quota_rejections_total{tenant="tenant-a",quota="events_per_second"} 1"#
        ),
        "{text}"
    );
    assert!(!text.contains(r#"quota_rejections_total{tenant="tenant-b""#));

    // Waiting as told is enough.
    eventually(
        "accepted again once Retry-After has passed",
        Duration::from_secs(retry_after + 1),
        || async { (app.emit(&a, "order.created", json!({})).await.status == 201).then_some(()) },
    )
    .await;
}

/// Emits back to back until `run_for` has passed since `started`; (accepted, refused).
async fn hammer(app: &TestApp, key: &str, started: Instant, run_for: Duration) -> (i64, i64) {
    let (mut accepted, mut refused) = (0, 0);
    while started.elapsed() < run_for {
        let reply = app.emit(key, "order.created", json!({})).await;
        match reply.status.as_u16() {
            201 => accepted += 1,
            429 => refused += 1,
            other => panic!("unexpected {other}: {:#}", reply.body),
        }
    }
    (accepted, refused)
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn the_rate_holds_across_two_ingest_replicas(pool: PgPool) {
    let first = spawn_app(pool).await;
    let second = first.replica().await;
    let key = first.tenant("acme").await;
    first.event_type(&key, "order.created").await;
    let (rate, burst) = (20.0, 20.0);
    set_rate(&first, "acme", 20, 20).await;

    let started = Instant::now();
    let run_for = Duration::from_secs(3);
    let results = futures::future::join_all(
        [&first, &second, &first, &second]
            .into_iter()
            .map(|app| hammer(app, &key, started, run_for)),
    )
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    let accepted: i64 = results.iter().map(|(a, _)| a).sum();
    let refused: i64 = results.iter().map(|(_, r)| r).sum();
    // docs/design.md: accepted <= burst + rate x T + replicas x chunk (chunk = 2 here).
    let ceiling = burst + rate * elapsed + 2.0 * 2.0;
    // And the limit is used, not starved: at least the burst plus most of the refill.
    let floor = burst + rate * elapsed * 0.8 - 2.0 * 2.0;
    assert!(
        (accepted as f64) <= ceiling && (accepted as f64) >= floor,
        "{accepted} accepted, {refused} refused in {elapsed:.2}s; bounds {floor:.0}..={ceiling:.0}"
    );
    assert!(refused > 0, "the hammering went past the limit");
    eprintln!(
        "two replicas: {accepted} accepted, {refused} refused in {elapsed:.2}s \
         (bounds {floor:.1}..={ceiling:.1})"
    );
    let stored = first.count("SELECT count(*) FROM events").await;
    assert_eq!(stored, accepted, "every 201 stored, nothing else");
}
