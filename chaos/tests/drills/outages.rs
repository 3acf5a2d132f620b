//! NATS restarted, PostgreSQL unreachable, and partitions, each mid-load.

use std::time::Duration;

use herald_chaos::{Cluster, assert_settled, received_ids};
use herald_test_support::proxy::FaultProxy;
use herald_test_support::{Receiver, Reply, eventually};
use sqlx::PgPool;

async fn under_way(receiver: &Receiver, at_least: usize) {
    eventually(
        "deliveries to be under way",
        Duration::from_secs(30),
        || async { (receiver.count() >= at_least).then_some(()) },
    )
    .await;
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn nats_restarted_mid_load(pool: PgPool) {
    let mut cluster = Cluster::start(pool, &[], 1).await;
    let key = cluster.tenant("acme").await;
    let receiver = Receiver::always(Reply::Delay(Duration::from_millis(20), 200)).await;
    cluster.webhook(&key, &receiver.url()).await;
    cluster.emitter.emit_many(&key, 0..100, 8).await;
    under_way(&receiver, 10).await;
    cluster.nats.stop();
    // Events are still accepted while NATS is down: PostgreSQL is the record.
    let accepted = tokio::time::timeout(
        Duration::from_secs(30),
        cluster.emitter.emit_many(&key, 100..150, 4),
    )
    .await
    .expect("ingest keeps accepting, promptly, while NATS is down");
    assert_eq!(accepted.len(), 50);
    cluster.nats.resume().expect("nats-server restarts");
    let settled = assert_settled(
        &cluster.pool,
        || received_ids(&[&receiver]),
        150,
        Duration::from_secs(90),
    )
    .await;
    assert_eq!(settled.success, 150);
    eprintln!("NATS restart drill: {settled:?}");
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn postgres_unreachable_mid_load(pool: PgPool) {
    let cluster = Cluster::start(pool, &[], 1).await;
    let key = cluster.tenant("acme").await;
    let receiver = Receiver::always(Reply::Status(200)).await;
    cluster.webhook(&key, &receiver.url()).await;
    let emitting = cluster.emitter.emit_many(&key, 0..150, 4);
    let outage = async {
        under_way(&receiver, 20).await;
        // Every connection cut and new ones unanswered, as while PostgreSQL restarts.
        cluster.pg_proxy.partition();
        tokio::time::sleep(Duration::from_secs(3)).await;
        cluster.pg_proxy.heal();
    };
    let (events, ()) = tokio::join!(emitting, outage);
    assert_eq!(events.len(), 150);
    let settled = assert_settled(
        &cluster.pool,
        || received_ids(&[&receiver]),
        150,
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(settled.success, 150);
    eprintln!("PostgreSQL outage drill: {settled:?}");
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn partitions_from_receivers_and_from_nats_heal(pool: PgPool) {
    let cluster = Cluster::start(pool, &[], 1).await;
    let key = cluster.tenant("acme").await;
    let receiver = Receiver::always(Reply::Status(200)).await;
    let addr = receiver
        .url()
        .trim_start_matches("http://")
        .trim_end_matches("/hook")
        .parse()
        .unwrap();
    let link = FaultProxy::start(addr).await;
    cluster
        .webhook(&key, &format!("http://{}/hook", link.addr()))
        .await;

    let emitting = cluster.emitter.emit_many(&key, 0..120, 4);
    let faults = async {
        under_way(&receiver, 10).await;
        link.partition();
        tokio::time::sleep(Duration::from_secs(2)).await;
        link.heal();
        under_way(&receiver, 60).await;
        cluster.nats_proxy.partition();
        tokio::time::sleep(Duration::from_secs(2)).await;
        cluster.nats_proxy.heal();
    };
    tokio::join!(emitting, faults);
    // Attempts cut by the partition time out and are retried, or dead-lettered after the
    // whole schedule: either way they are accounted for.
    let settled = assert_settled(
        &cluster.pool,
        || received_ids(&[&receiver]),
        120,
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(settled.success + settled.failed, 120);
    eprintln!("partition drill: {settled:?}");
}
