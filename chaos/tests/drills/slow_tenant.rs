//! The slow-tenant drill: tenant A's receiver answers after 30 s and A emits at its full
//! rate, while tenant B emits a steady load to a fast receiver. B's p99 end-to-end latency
//! stays within twice its baseline without A, and B loses nothing. Then A exhausts its rate
//! quota: A gets 429s, B none. docs/runbooks/slow-tenant.md walks through the same drill.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_chaos::Cluster;
use herald_test_support::{Receiver, Reply, eventually};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::Mutex;

/// B's steady load: one event per `B_EVERY`, for `PHASE`.
const B_EVERY: Duration = Duration::from_millis(100);
const PHASE: Duration = Duration::from_secs(10);
/// A's rate quota, which it emits at.
const A_RATE: u32 = 20;
/// Measured rounds at most (see the drill).
const ROUNDS: u64 = 3;

type Sent = Arc<Mutex<HashMap<u64, Instant>>>;

/// Emits one event every `every` for `phase`, numbered from `first`, without waiting for
/// answers (an open loop: a slow answer does not slow the load). Returns the statuses.
async fn emit_steadily(
    cluster: &Arc<Cluster>,
    key: &str,
    first: u64,
    every: Duration,
    phase: Duration,
    sent: Sent,
) -> Vec<u16> {
    let mut tick = tokio::time::interval(every);
    let started = Instant::now();
    let mut tasks = Vec::new();
    let mut n = first;
    while started.elapsed() < phase {
        tick.tick().await;
        let (cluster, key, sent) = (cluster.clone(), key.to_owned(), sent.clone());
        tasks.push(tokio::spawn(async move {
            sent.lock().await.insert(n, Instant::now());
            cluster.emitter.try_emit(&key, json!({ "n": n })).await
        }));
        n += 1;
    }
    futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|t| t.expect("an emit task"))
        .collect()
}

/// End-to-end latencies of the events numbered in `range`, from sending to the receiver.
fn latencies(
    receiver: &Receiver,
    sent: &HashMap<u64, Instant>,
    range: std::ops::Range<u64>,
) -> Vec<Duration> {
    let mut out: Vec<Duration> = receiver
        .received()
        .iter()
        .filter_map(|r| {
            let body: Value = serde_json::from_slice(&r.body).ok()?;
            let n = body["data"]["n"].as_u64()?;
            range.contains(&n).then(|| r.at - sent[&n])
        })
        .collect();
    out.sort();
    out
}

fn p99(sorted: &[Duration]) -> Duration {
    sorted[(sorted.len() * 99 / 100).min(sorted.len() - 1)]
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_slow_tenant_at_full_rate_leaves_another_untouched(pool: PgPool) {
    let settings = [("HERALD_DELIVERY_TIMEOUT", "40s")];
    let cluster = Arc::new(Cluster::start(pool, &settings, 1).await);
    let a = cluster.tenant("tenant-a").await;
    let b = cluster.tenant("tenant-b").await;
    cluster
        .set_quotas(
            "tenant-a",
            json!({ "events_per_second": A_RATE, "burst": A_RATE }),
        )
        .await;
    let slow = Receiver::always(Reply::Delay(Duration::from_secs(30), 200)).await;
    let fast = Receiver::always(Reply::Status(200)).await;
    cluster.webhook(&a, &slow.url()).await;
    cluster.webhook(&b, &fast.url()).await;
    let sent = Sent::default();
    // Event numbers: round r's B events alone from r x 1000, beside A from r x 1000 + 500.
    let per_phase = 500;

    // Warm up: the dispatcher has found B's consumer once one event got through.
    assert_eq!(
        cluster.emitter.try_emit(&b, json!({ "n": u64::MAX })).await,
        201
    );
    eventually("B's first delivery", Duration::from_secs(10), || async {
        (fast.count() == 1).then_some(())
    })
    .await;

    // Rounds of B alone, then B beside A at its full rate to a receiver that takes 30 s.
    // A round whose baseline or comparison a stall of the machine itself spoils (seen here:
    // every delivery of every tenant held up to 0.7 s at once, once in several runs) is
    // measured again, up to ROUNDS times; A slowing B down would fail every round.
    let mut b_total = 1;
    let mut rounds = Vec::new();
    for round in 0..ROUNDS {
        let first = round * 1_000;
        let alone = emit_steadily(&cluster, &b, first, B_EVERY, PHASE, sent.clone()).await;
        assert!(alone.iter().all(|s| *s == 201), "{alone:?}");
        let a_every = Duration::from_secs(1) / A_RATE;
        let a_first = 10_000 + round * 1_000;
        let (a_statuses, beside) = tokio::join!(
            emit_steadily(&cluster, &a, a_first, a_every, PHASE, Sent::default()),
            emit_steadily(
                &cluster,
                &b,
                first + per_phase,
                B_EVERY,
                PHASE,
                sent.clone()
            ),
        );
        assert!(beside.iter().all(|s| *s == 201), "{beside:?}");
        let a_accepted = a_statuses.iter().filter(|s| **s == 201).count();
        assert!(
            a_accepted as u32 >= A_RATE * 9,
            "A kept to its rate: {a_accepted} accepted"
        );
        b_total += (alone.len() + beside.len()) as u64;
        eventually("B's deliveries", Duration::from_secs(30), || async {
            (fast.count() as u64 >= b_total).then_some(())
        })
        .await;
        let usage = cluster.quotas("tenant-a", &a).await;
        let in_flight = usage["usage"]["in_flight"].as_i64().unwrap();
        assert!(
            in_flight > 0 && in_flight <= 20,
            "A's attempts in flight: {in_flight} (quota 20)"
        );
        let sent = sent.lock().await;
        let p99_alone = p99(&latencies(&fast, &sent, first..first + per_phase));
        let p99_beside = p99(&latencies(
            &fast,
            &sent,
            first + per_phase..first + 2 * per_phase,
        ));
        eprintln!(
            "slow-tenant drill, round {round}: B p99 {p99_alone:?} alone, {p99_beside:?} beside \
             A (A accepted {a_accepted}, {in_flight} attempts in flight)"
        );
        rounds.push((p99_alone, p99_beside));
        if p99_beside <= p99_alone * 2 {
            break;
        }
    }
    assert!(
        rounds.iter().any(|(alone, beside)| *beside <= *alone * 2),
        "B's p99 beside A more than doubled in every round: {rounds:?}"
    );

    // B lost nothing: every accepted event arrived, once.
    let ids: Vec<String> = fast
        .received()
        .iter()
        .map(|r| r.header("webhook-id").unwrap().to_owned())
        .collect();
    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len() as u64, b_total, "every B delivery arrived");
    assert_eq!(ids.len(), unique.len(), "no B delivery arrived twice");

    // A goes past its quota; B keeps emitting.
    let burst_every = Duration::from_millis(5);
    let (a_statuses, b_statuses) = tokio::join!(
        emit_steadily(
            &cluster,
            &a,
            100_000,
            burst_every,
            Duration::from_secs(3),
            Sent::default()
        ),
        emit_steadily(
            &cluster,
            &b,
            200_000,
            B_EVERY,
            Duration::from_secs(3),
            Sent::default()
        ),
    );
    let a_refused = a_statuses.iter().filter(|s| **s == 429).count();
    assert!(a_refused > 0, "A over its rate got no 429: {a_statuses:?}");
    assert!(b_statuses.iter().all(|s| *s == 201), "B got {b_statuses:?}");
}
