//! The outbox relay: what a request could not get onto JetStream goes out at the relay's next
//! pass after the grace; an event whose first jobs need nothing more leaves the outbox.

use std::time::Duration;

use herald_ingest::relay::backlog;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{TestApp, spawn_app};

/// Messages on the deliveries stream (0 while it does not exist yet).
async fn messages_on_jetstream(app: &TestApp) -> u64 {
    let js = app.jetstream().await;
    match js.get_stream("herald_DELIVERIES").await {
        Ok(mut stream) => stream.info().await.expect("stream info").state.messages,
        Err(_) => 0,
    }
}

/// An event with two deliveries, accepted while NATS is down; NATS is back on return.
async fn event_accepted_while_nats_is_down(app: &mut TestApp) {
    let key = app.tenant("acme").await;
    app.event_type(&key, "order.created").await;
    app.webhook(&key, &[]).await;
    app.webhook(&key, &[]).await;
    let nats = app.nats.as_mut().expect("own nats-server");
    nats.stop();
    app.emit(&key, "order.created", json!({ "n": 1 }))
        .await
        .expect(201);
    assert_eq!(app.count("SELECT count(*) FROM event_outbox").await, 1);
    assert_eq!(backlog(&app.pool).await.unwrap(), 2, "two jobs unconfirmed");
    app.nats
        .as_mut()
        .unwrap()
        .resume()
        .expect("nats-server restarts");
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn the_relay_publishes_an_events_first_jobs_the_request_could_not(pool: PgPool) {
    let mut app = spawn_app(pool).await;
    event_accepted_while_nats_is_down(&mut app).await;
    app.relay_pass().await;
    assert_eq!(
        app.count("SELECT count(*) FROM event_outbox").await,
        1,
        "within the grace the jobs are left to the request"
    );
    // Once the grace is over.
    app.relay_pass_with_grace(Duration::ZERO).await;
    assert!(messages_on_jetstream(&app).await > 0, "jobs published");
    assert_eq!(app.count("SELECT count(*) FROM event_outbox").await, 0);
    assert_eq!(backlog(&app.pool).await.unwrap(), 0);
}

/// A dispatcher claimed the jobs (they were published after all) but the event's mark was
/// lost: the relay takes the event out of the outbox and publishes nothing.
#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn an_event_with_no_pending_first_job_leaves_the_outbox_unpublished(pool: PgPool) {
    let mut app = spawn_app(pool).await;
    event_accepted_while_nats_is_down(&mut app).await;
    sqlx::query(
        "UPDATE deliveries SET status = 'processing', lease_until = now() + interval '1 minute'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    assert_eq!(backlog(&app.pool).await.unwrap(), 0, "nothing pending");
    app.relay_pass_with_grace(Duration::ZERO).await;
    assert_eq!(app.count("SELECT count(*) FROM event_outbox").await, 0);
    assert_eq!(messages_on_jetstream(&app).await, 0, "nothing published");
}
