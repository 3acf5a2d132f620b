//! Dispatcher and DLQ service killed with SIGKILL mid-load.

use std::time::{Duration, Instant};

use herald_chaos::{Cluster, assert_settled, received_ids};
use herald_test_support::{Receiver, Reply, eventually};
use sqlx::PgPool;

/// The first dispatcher and the DLQ service are killed while events are still coming in;
/// the survivor works alone for a while (40 more requests of its own) before it is killed
/// too; new processes finish the job.
#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn dispatchers_and_the_dlq_service_killed_mid_load_lose_nothing(pool: PgPool) {
    let mut cluster = Cluster::start(pool, &[], 2).await;
    let key = cluster.tenant("acme").await;
    let slow = Receiver::always(Reply::Delay(Duration::from_millis(100), 200)).await;
    let failing = Receiver::always(Reply::Status(500)).await;
    cluster.webhook(&key, &slow.url()).await;
    cluster.webhook(&key, &failing.url()).await;

    // 150 events over about three seconds: the kills land while they still arrive.
    let emitter = cluster.emitter.clone();
    let emitting = tokio::spawn({
        let key = key.clone();
        async move {
            emitter
                .emit_paced(&key, 0..150, Duration::from_millis(20))
                .await
        }
    });
    eventually(
        "deliveries to be under way",
        Duration::from_secs(20),
        || async { (slow.count() >= 20).then_some(()) },
    )
    .await;
    let first_kill = Instant::now();
    cluster.kill_dispatcher().await;
    cluster.kill_dlq().await;
    assert!(
        !emitting.is_finished(),
        "events were still coming in at the first kill"
    );
    let at_first_kill = slow.count();
    eventually(
        "the surviving dispatcher's own attempts",
        Duration::from_secs(20),
        || async { (slow.count() >= at_first_kill + 40).then_some(()) },
    )
    .await;
    cluster.kill_dispatcher().await;
    cluster.spawn_dispatcher();
    cluster.spawn_dispatcher();
    cluster.spawn_dlq();
    assert_eq!(emitting.await.unwrap().len(), 150, "every event accepted");

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
    // Every attempt recorded reached its receiver; the requests beyond them are attempts
    // the kills cut off before their record.
    let requests = (slow.count() + failing.count()) as i64;
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM delivery_attempts")
        .fetch_one(&cluster.pool)
        .await
        .unwrap();
    assert!(
        requests >= recorded,
        "{recorded} attempts recorded, {requests} requests received"
    );
    eprintln!(
        "SIGKILL drill: settled {:.1} s after the first kill; {requests} requests, {recorded} \
         attempts recorded ({} cut off by the kills); {settled:?}",
        first_kill.elapsed().as_secs_f64(),
        requests - recorded
    );
}

/// A dispatcher killed in the middle of an attempt holds that job, and its claim, for one ack
/// wait (`HERALD_ACK_WAIT`, 10 s by default), not for as long as the attempt could have taken:
/// here a minute, after which the old rule (timeout + 15 s) would have held it 75 s.
#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_killed_dispatchers_job_waits_one_ack_wait_not_its_timeout(pool: PgPool) {
    let mut cluster = Cluster::start(pool, &[("HERALD_DELIVERY_TIMEOUT", "60s")], 1).await;
    let key = cluster.tenant("acme").await;
    let receiver = Receiver::start(vec![Reply::Hang], Reply::Status(200)).await;
    cluster.webhook(&key, &receiver.url()).await;
    cluster.emitter.emit_many(&key, 0..1, 1).await;
    eventually(
        "the first attempt to hang",
        Duration::from_secs(20),
        || async { (receiver.count() == 1).then_some(()) },
    )
    .await;
    cluster.spawn_dispatcher();
    cluster.kill_dispatcher().await;
    let killed = Instant::now();
    eventually(
        "the survivor to send the delivery again",
        Duration::from_secs(30),
        || async { (receiver.count() >= 2).then_some(()) },
    )
    .await;
    let held = killed.elapsed();
    let settled = assert_settled(
        &cluster.pool,
        || received_ids(&[&receiver]),
        1,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(
        settled.success, 1,
        "the delivery succeeded on its second attempt"
    );
    eprintln!("SIGKILL mid-attempt: the job waited {held:?} after the kill; {settled:?}");
}
