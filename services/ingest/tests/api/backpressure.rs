//! Backpressure on `POST /events`: past a bound, 503 with `Retry-After` and nothing stored.

use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{Reply, TestApp, spawn_app_with};

/// Emits until an answer is not 201 (the backlog is sampled at most once a second); panics
/// after a few seconds of 201s.
async fn emit_until_refused(app: &TestApp, key: &str) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut n = 0;
    loop {
        let reply = app.emit(key, "order.created", json!({ "n": n })).await;
        if reply.status != 201 {
            return reply;
        }
        assert!(Instant::now() < deadline, "still accepted after {n} events");
        n += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn assert_refused_for_backlog(reply: &Reply) {
    assert_eq!(reply.status, 503, "{:#}", reply.body);
    assert_eq!(reply.error(), "backlog_full");
    assert_eq!(reply.headers["retry-after"], "1");
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_tenant_whose_jobs_pile_up_is_refused_and_the_others_are_not(pool: PgPool) {
    let app = spawn_app_with(pool, &[("HERALD_MAX_TENANT_BACKLOG", "3")]).await;
    let (piling, other) = (app.tenant("piling").await, app.tenant("other").await);
    for key in [&piling, &other] {
        app.event_type(key, "order.created").await;
        app.webhook(key, &[]).await;
    }
    // No dispatcher runs: every job waits in the tenant's consumer.
    let refused = emit_until_refused(&app, &piling).await;
    assert_refused_for_backlog(&refused);
    let stored = app.count("SELECT count(*) FROM events").await;
    // Sampled once a second, at 10 events a second here: a second's worth may pass the bound.
    assert!(
        (3..=3 + 20).contains(&stored),
        "refused once the backlog reached 3: {stored} stored"
    );
    app.emit(&other, "order.created", json!({ "n": 0 }))
        .await
        .expect(201);
    let again = app.emit(&piling, "order.created", json!({})).await;
    assert_refused_for_backlog(&again);
    assert_eq!(
        app.count("SELECT count(*) FROM events").await,
        stored + 1,
        "nothing stored for a refusal"
    );
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn everyone_is_refused_while_the_outbox_cannot_reach_nats(pool: PgPool) {
    let mut app = spawn_app_with(pool, &[("HERALD_MAX_OUTBOX_BACKLOG", "2")]).await;
    let key = app.tenant("acme").await;
    app.event_type(&key, "order.created").await;
    app.webhook(&key, &[]).await;
    app.nats.as_mut().expect("own nats-server").stop();
    // Accepted and stored while NATS is down, until the unpublished deliveries reach 2.
    let refused = emit_until_refused(&app, &key).await;
    assert_refused_for_backlog(&refused);
    assert!(refused.message().contains("waiting to be queued"));
    let unpublished = app
        .count(
            "SELECT count(*) FROM event_outbox o JOIN deliveries d ON d.event_id = o.event_id
             WHERE d.status = 'pending'",
        )
        .await;
    assert!(unpublished >= 2, "{unpublished} unpublished");
}
