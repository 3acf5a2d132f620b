//! Hostile receivers: slow, erroring, hanging past the timeout, resetting connections.

use std::time::Duration;

use herald_chaos::{Cluster, assert_settled, received_ids};
use herald_test_support::proxy::{Fault, FaultProxy};
use herald_test_support::{Receiver, Reply};
use sqlx::PgPool;

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn every_delivery_to_hostile_receivers_ends_success_or_dead_lettered(pool: PgPool) {
    let cluster = Cluster::start(pool, &[("HERALD_DELIVERY_TIMEOUT", "1s")], 1).await;
    let key = cluster.tenant("acme").await;
    let slow = Receiver::always(Reply::Delay(Duration::from_millis(300), 200)).await;
    let erroring = Receiver::start(
        vec![Reply::Status(500), Reply::Status(503)],
        Reply::Status(200),
    )
    .await;
    let hanging = Receiver::always(Reply::Hang).await;
    let resetting_target = Receiver::always(Reply::Status(200)).await;
    let addr = resetting_target
        .url()
        .trim_start_matches("http://")
        .trim_end_matches("/hook")
        .parse()
        .unwrap();
    let resetting = FaultProxy::start(addr).await;
    resetting.set(Fault::Reset);
    for url in [
        slow.url(),
        erroring.url(),
        hanging.url(),
        format!("http://{}/hook", resetting.addr()),
    ] {
        cluster.webhook(&key, &url).await;
    }
    cluster.emitter.emit_many(&key, 0..30, 4).await;

    let receivers = [&slow, &erroring, &hanging, &resetting_target];
    let settled = assert_settled(
        &cluster.pool,
        || received_ids(&receivers),
        120,
        Duration::from_secs(120),
    )
    .await;
    // Slow and erroring-then-recovering receivers get everything; hanging and resetting
    // ones exhaust the schedule and are dead-lettered.
    assert_eq!(settled.success, 60, "{settled:?}");
    assert_eq!(settled.failed, 60, "{settled:?}");
    assert_eq!(
        resetting_target.count(),
        0,
        "reset connections never reached the receiver"
    );
    assert_eq!(
        hanging.count(),
        30 * 6,
        "every attempt to the hanging receiver was made"
    );
    eprintln!("hostile receivers drill: {settled:?}");
}
