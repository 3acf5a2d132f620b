//! The batched claim and record statements are planned for the batch in hand, every time.
//!
//! A prepared statement that PostgreSQL has run five times may switch to a generic plan,
//! made once without the parameters and kept until the table's statistics change. Made
//! while `deliveries` is still nearly empty (a new installation's first seconds, before
//! autovacuum has analyzed it), that plan scans the whole table for every batch, and keeps
//! doing so as the table grows: in the benchmark, claims of a few hundred jobs took 0.2 to
//! 0.3 s each after 25 s and deliveries fell seconds behind.

use std::time::Duration;

use herald_dispatcher::claim_batch::Claimer;
use herald_dispatcher::record_batch::{AttemptRecord, Recorder};
use herald_dispatcher::sender::AttemptReport;
use herald_domain::classify::AttemptResult;
use herald_domain::retry::Decision;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

fn success(delivery: Uuid) -> AttemptRecord {
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
            duration: Duration::from_millis(5),
            response_excerpt: None,
        },
        error: None,
        decision: Decision::Succeeded,
    }
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn batches_on_an_empty_table_leave_no_generic_plan_behind(pool: PgPool) {
    // One connection, so that every statement below and the look at its plans share it.
    let single = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(pool.connect_options().as_ref().clone())
        .await
        .unwrap();
    let claimer = Claimer::new(single.clone(), Duration::from_secs(10));
    let recorder = Recorder::new(single.clone());

    // Far more runs than PostgreSQL's five before it weighs a generic plan, on a table with
    // no row: the moment a generic plan would be cheapest.
    for _ in 0..20 {
        let claimed = claimer.claim(Uuid::now_v7(), 0).await.unwrap();
        assert!(claimed.is_none(), "no delivery exists to claim");
        let moved = recorder.record(success(Uuid::now_v7())).await.unwrap();
        assert_eq!(moved, None, "no delivery exists to record");
    }

    // Prepared, they would be planned generically from the sixth run on (they were: 15 of
    // these 20 runs each).
    let kept: Vec<(String, i64)> = sqlx::query_as(
        "SELECT statement, generic_plans FROM pg_prepared_statements
         WHERE statement LIKE '%unnest(%' AND statement LIKE '%deliveries%'
           AND statement NOT LIKE '%pg_prepared_statements%'",
    )
    .fetch_all(&single)
    .await
    .unwrap();
    assert!(
        kept.is_empty(),
        "batched statements kept prepared, with their generic plans so far: {kept:#?}"
    );
}
