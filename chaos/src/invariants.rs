//! What must hold after any drill, once the faults are healed: every delivery ends `success`
//! or dead-lettered; nothing is lost; nothing is dead-lettered twice; a receiver sees only
//! deliveries that exist, and sees every successful one.

use std::collections::HashSet;
use std::time::Duration;

use herald_test_support::{Receiver, eventually};
use sqlx::PgPool;

#[derive(Debug)]
pub struct Settled {
    pub success: i64,
    pub failed: i64,
    /// Requests beyond the first for the same `webhook-id` (allowed: receivers dedupe).
    pub duplicates_received: usize,
}

async fn scalar(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(pool)
        .await
        .expect("an invariant query runs")
}

/// The `webhook-id` of every request the receivers got.
pub fn received_ids(receivers: &[&Receiver]) -> Vec<String> {
    receivers
        .iter()
        .flat_map(|r| r.received())
        .map(|r| {
            r.header("webhook-id")
                .expect("every request has a webhook-id")
                .to_owned()
        })
        .collect()
}

/// Waits for the system to settle and checks the invariants. `received` reads the
/// `webhook-id` of every request receivers got (see `received_ids`), once settled.
pub async fn assert_settled(
    pool: &PgPool,
    received: impl Fn() -> Vec<String>,
    expected: i64,
    deadline: Duration,
) -> Settled {
    eventually(
        "every delivery to end success or failed",
        deadline,
        || async {
            let open = scalar(
                pool,
                "SELECT count(*) FROM deliveries WHERE status NOT IN ('success', 'failed')",
            )
            .await;
            (open == 0).then_some(())
        },
    )
    .await;
    assert_eq!(
        scalar(pool, "SELECT count(*) FROM deliveries").await,
        expected,
        "deliveries were lost or invented"
    );
    eventually(
        "every failed delivery to be in the DLQ",
        deadline,
        || async {
            let missing = scalar(
                pool,
                "SELECT count(*) FROM deliveries d WHERE d.status = 'failed' AND NOT EXISTS (
               SELECT 1 FROM dead_letter_queue q
               WHERE q.delivery_id = d.id AND q.generation = d.generation AND q.closed_at IS NULL)",
            )
            .await;
            (missing == 0).then_some(())
        },
    )
    .await;
    let doubled = scalar(
        pool,
        "SELECT count(*) - count(DISTINCT (delivery_id, generation)) FROM dead_letter_queue",
    )
    .await;
    assert_eq!(doubled, 0, "a delivery was dead-lettered twice");
    let strays = scalar(
        pool,
        "SELECT count(*) FROM dead_letter_queue q JOIN deliveries d ON d.id = q.delivery_id
         WHERE q.closed_at IS NULL AND d.status <> 'failed'",
    )
    .await;
    assert_eq!(
        strays, 0,
        "an open dead letter belongs to a delivery that did not fail"
    );

    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT 'msg_' || replace(id::text, '-', '') FROM deliveries WHERE status = 'success'",
    )
    .fetch_all(pool)
    .await
    .expect("delivered ids");
    let known: Vec<String> =
        sqlx::query_scalar("SELECT 'msg_' || replace(id::text, '-', '') FROM deliveries")
            .fetch_all(pool)
            .await
            .expect("all ids");
    let known: HashSet<String> = known.into_iter().collect();

    let received = received();
    let distinct: HashSet<&String> = received.iter().collect();
    assert!(
        distinct.iter().all(|id| known.contains(*id)),
        "a receiver got an unknown webhook-id"
    );
    let missing: Vec<&String> = ids.iter().filter(|id| !distinct.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "{} successful deliveries never reached a receiver",
        missing.len()
    );
    Settled {
        success: ids.len() as i64,
        failed: scalar(
            pool,
            "SELECT count(*) FROM deliveries WHERE status = 'failed'",
        )
        .await,
        duplicates_received: received.len() - distinct.len(),
    }
}
