//! 1,000 events to 10 webhooks, 10,000 deliveries, two dispatcher processes racing.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use herald_chaos::{Cluster, assert_settled, received_ids};
use herald_test_support::{Receiver, Reply};
use sqlx::PgPool;

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn ten_thousand_deliveries_with_two_dispatchers(pool: PgPool) {
    let cluster = Cluster::start(pool, &[], 2).await;
    let key = cluster.tenant("acme").await;
    let mut receivers = Vec::new();
    for _ in 0..10 {
        let receiver = Receiver::always(Reply::Status(200)).await;
        cluster.webhook(&key, &receiver.url()).await;
        receivers.push(receiver);
    }
    let started = Instant::now();
    cluster.emitter.emit_many(&key, 0..1000, 16).await;
    let emitted = started.elapsed();
    let refs: Vec<&Receiver> = receivers.iter().collect();
    let settled = assert_settled(
        &cluster.pool,
        || received_ids(&refs),
        10_000,
        Duration::from_secs(240),
    )
    .await;
    let total = started.elapsed();
    assert_eq!(settled.success, 10_000);
    let received: HashSet<String> = receivers
        .iter()
        .flat_map(|r| r.received())
        .map(|r| r.header("webhook-id").unwrap().to_owned())
        .collect();
    assert_eq!(
        received.len(),
        10_000,
        "each delivery received (deduped by webhook-id) once"
    );
    eprintln!(
        "concurrency drill: 1000 events accepted in {emitted:?}, 10000 deliveries settled in {total:?} \
         ({:.0}/s), {} duplicate receipts",
        10_000.0 / total.as_secs_f64(),
        settled.duplicates_received
    );
}
