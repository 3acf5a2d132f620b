//! Dispatcher and DLQ service killed with SIGKILL mid-load.

use std::time::Duration;

use herald_chaos::{Cluster, assert_settled, received_ids};
use herald_test_support::{Receiver, Reply, eventually};
use sqlx::PgPool;

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn dispatchers_and_the_dlq_service_killed_mid_load_lose_nothing(pool: PgPool) {
    let mut cluster = Cluster::start(pool, &[], 2).await;
    let key = cluster.tenant("acme").await;
    let slow = Receiver::always(Reply::Delay(Duration::from_millis(100), 200)).await;
    let failing = Receiver::always(Reply::Status(500)).await;
    cluster.webhook(&key, &slow.url()).await;
    cluster.webhook(&key, &failing.url()).await;

    cluster.emit_many(&key, 0..150, 8).await;
    eventually(
        "deliveries to be under way",
        Duration::from_secs(20),
        || async { (slow.count() >= 20).then_some(()) },
    )
    .await;
    cluster.kill_dispatcher().await;
    cluster.kill_dlq().await;
    eventually(
        "more attempts by the surviving dispatcher",
        Duration::from_secs(20),
        || async { (slow.count() >= 60).then_some(()) },
    )
    .await;
    cluster.kill_dispatcher().await;
    cluster.spawn_dispatcher();
    cluster.spawn_dispatcher();
    cluster.spawn_dlq();

    let settled = assert_settled(
        &cluster.pool,
        || received_ids(&[&slow, &failing]),
        300,
        Duration::from_secs(90),
    )
    .await;
    assert_eq!(
        settled.success, 150,
        "every delivery to the healthy receiver succeeded"
    );
    assert_eq!(
        settled.failed, 150,
        "every delivery to the failing receiver was dead-lettered"
    );
    eprintln!("SIGKILL drill: {settled:?}");
}
