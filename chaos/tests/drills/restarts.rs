//! PostgreSQL itself restarted mid-load (a throwaway cluster of the drill's own).

use std::time::Duration;

use herald_chaos::{Cluster, assert_settled, received_ids};
use herald_runtime::database::Warm;
use herald_test_support::pg_cluster::PgCluster;
use herald_test_support::{Receiver, Reply, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_mid_load() {
    let Some(postgres) = PgCluster::start() else {
        return;
    };
    let pool =
        herald_runtime::database::connect_and_migrate(&postgres.url("herald"), Warm::default())
            .await
            .expect("the drill's database");
    let cluster = Cluster::start(pool, &[], 1).await;
    let key = cluster.tenant("acme").await;
    let receiver = Receiver::always(Reply::Status(200)).await;
    cluster.webhook(&key, &receiver.url()).await;

    let emitting = cluster.emitter.emit_many(&key, 0..150, 4);
    let restart = async {
        eventually(
            "deliveries to be under way",
            Duration::from_secs(30),
            || async { (receiver.count() >= 20).then_some(()) },
        )
        .await;
        let postgres = &postgres;
        tokio::task::block_in_place(|| postgres.restart()).expect("PostgreSQL restarts");
    };
    let (events, ()) = tokio::join!(emitting, restart);
    assert_eq!(events.len(), 150);
    let settled = assert_settled(
        &cluster.pool,
        || received_ids(&[&receiver]),
        150,
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(settled.success, 150);
    eprintln!("PostgreSQL restart drill: {settled:?}");
}
