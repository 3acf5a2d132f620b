//! The claims and records pools open their connections ahead of use, each with its batch
//! statement already prepared (see `herald_runtime::database::Warm`), and a warmed
//! connection still settles on the statement's generic plan: the warm-up's empty batch,
//! planned as one of the first five runs, does not make real batches look cheap to plan.

use std::time::Duration;

use herald_domain::classify::AttemptResult;
use herald_domain::retry::Decision;
use herald_test_support::eventually;
use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};
use uuid::Uuid;

use crate::claim_batch::{self, CLAIM};
use crate::record_batch::{self, AttemptRecord, RECORD};
use crate::sender::AttemptReport;
use crate::{BATCH_POOL_CONNECTIONS, claims_pool, records_pool};

/// How many plans of `statement` the connection made so far: (generic, custom).
async fn plans(conn: &mut PoolConnection<Postgres>, statement: &str) -> Option<(i64, i64)> {
    sqlx::query_as(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1",
    )
    .bind(statement)
    .fetch_optional(&mut **conn)
    .await
    .unwrap()
}

/// A connection of `pool` once the pool holds `connections` open.
async fn warm_connection(pool: &PgPool, connections: usize) -> PoolConnection<Postgres> {
    eventually(
        "the pool's connections",
        Duration::from_secs(10),
        || async { (pool.size() as usize >= connections).then_some(()) },
    )
    .await;
    pool.acquire().await.unwrap()
}

fn record(delivery: Uuid) -> AttemptRecord {
    AttemptRecord {
        delivery,
        generation: 0,
        webhook: Uuid::now_v7(),
        attempt: 1,
        report: AttemptReport {
            result: AttemptResult::Response {
                status: 200,
                retry_after: None,
            },
            duration: Duration::from_millis(3),
            response_excerpt: None,
        },
        error: None,
        decision: Decision::Succeeded,
    }
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn the_claims_pool_opens_warm_and_settles_on_the_generic_plan(pool: PgPool) {
    let claims = claims_pool(&pool);
    let mut conn = warm_connection(&claims, BATCH_POOL_CONNECTIONS).await;
    assert_eq!(
        plans(&mut conn, CLAIM).await,
        Some((0, 1)),
        "prepared and run once, empty, before any claim"
    );
    let ids: Vec<Uuid> = (0..100).map(|_| Uuid::now_v7()).collect();
    for _ in 0..6 {
        let claimed = claim_batch::claim_rows(&mut *conn, &ids, &[0; 100], Duration::from_secs(30))
            .await
            .unwrap();
        assert!(claimed.is_empty(), "no such deliveries");
    }
    let (generic, _) = plans(&mut conn, CLAIM).await.unwrap();
    assert!(
        generic >= 1,
        "six claims of 100 after the warm-up: no generic plan"
    );
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn the_records_pool_opens_warm_and_settles_on_the_generic_plan(pool: PgPool) {
    let records = records_pool(&pool);
    let mut conn = warm_connection(&records, BATCH_POOL_CONNECTIONS).await;
    assert_eq!(
        plans(&mut conn, RECORD).await,
        Some((0, 1)),
        "prepared and run once, empty, before any record"
    );
    let batch: Vec<AttemptRecord> = (0..100).map(|_| record(Uuid::now_v7())).collect();
    for _ in 0..6 {
        let moved = record_batch::write_unique(&mut *conn, batch.iter())
            .await
            .unwrap();
        assert!(moved.iter().all(Option::is_none), "no such deliveries");
    }
    let (generic, _) = plans(&mut conn, RECORD).await.unwrap();
    assert!(
        generic >= 1,
        "six records of 100 after the warm-up: no generic plan"
    );
}
