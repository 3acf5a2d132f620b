//! The generic plans of the batched claim and record statements, as their pools' connections
//! make them, look deliveries up by primary key even while the table is small (see
//! `INDEX_LOOKUPS`).

use herald_runtime::database::Warm;
use sqlx::{AssertSqlSafe, PgPool};

use crate::claim_batch::CLAIM;
use crate::record_batch::RECORD;
use crate::{INDEX_LOOKUPS, claims_pool, derived_pool, records_pool};

const RUN_CLAIM: &str = "EXECUTE claim ('{}', '{}', 10)";
const RUN_RECORD: &str =
    "EXECUTE record ('{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}')";

/// The plan a prepared statement gets once PostgreSQL settles on a generic one.
async fn generic_plan(pool: &PgPool, prepare: &str, run: &str) -> String {
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("SET plan_cache_mode = force_generic_plan")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query(AssertSqlSafe(prepare.to_owned()))
        .execute(&mut *conn)
        .await
        .unwrap();
    let lines: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!("EXPLAIN {run}")))
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    lines.join("\n")
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn generic_plans_of_claims_and_records_keep_to_the_primary_key(pool: PgPool) {
    // A few hundred rows, as in a new installation's first seconds: the size at which a
    // generic plan scans the table.
    sqlx::query(
        "INSERT INTO deliveries (id, tenant_id, event_id, webhook_id)
         SELECT gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), gen_random_uuid()
         FROM generate_series(1, 500)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let claim = format!("PREPARE claim (uuid[], int[], float8) AS {CLAIM}");
    let record = format!(
        "PREPARE record (uuid[], int[], float8[], int[], int[], text[], text[], text[],
                         float8[], text[], int[]) AS {RECORD}"
    );

    for (name, pool, prepare, run) in [
        ("claim", claims_pool(&pool), &claim, RUN_CLAIM),
        ("record", records_pool(&pool), &record, RUN_RECORD),
    ] {
        let plan = generic_plan(&pool, prepare, run).await;
        assert!(
            plan.contains("deliveries_pkey") && !plan.contains("Seq Scan on deliveries"),
            "the {name}'s generic plan:\n{plan}"
        );
    }

    // The premise: on a connection without the setting, the same statements scan the table.
    for (prepare, run) in [(&claim, RUN_CLAIM), (&record, RUN_RECORD)] {
        let plan = generic_plan(&pool, prepare, run).await;
        assert!(plan.contains("Seq Scan on deliveries"), "{plan}");
    }
}

/// `EXPLAIN ANALYZE` of a record batch of every `processing` delivery (arrays written out,
/// so the plan is the custom one made for this batch), rolled back.
async fn record_plan(pool: &PgPool) -> String {
    let mut tx = pool.begin().await.unwrap();
    let ids: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT id FROM deliveries WHERE status = 'processing'")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
    let list = |item: &str| format!("'{{{}}}'", vec![item; ids.len()].join(","));
    let ids = format!(
        "'{{{}}}'",
        ids.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    let (one, zero, null, empty) = (list("1"), list("0"), list("NULL"), list("\"\""));
    let success = list("success");
    sqlx::query(AssertSqlSafe(format!(
        "PREPARE record (uuid[], int[], float8[], int[], int[], text[], text[], text[],
                         float8[], text[], int[]) AS {RECORD}"
    )))
    .execute(&mut *tx)
    .await
    .unwrap();
    let lines: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
        "EXPLAIN (ANALYZE, TIMING OFF) EXECUTE record ({ids}, {one}, {zero}, {one}, {one},
             {null}, {empty}, {success}, {zero}, {null}, {zero})"
    )))
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    lines.join("\n")
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_record_batch_joins_its_rows_by_hash_before_the_table_is_analyzed(pool: PgPool) {
    // A new installation's first seconds: no statistics yet, so PostgreSQL takes "processing"
    // for rare and expects one of the batch's rows. (No autovacuum, whose analysis would
    // end that during the test.)
    sqlx::query("ALTER TABLE deliveries SET (autovacuum_enabled = off)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO deliveries (id, tenant_id, event_id, webhook_id, status)
         SELECT gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), gen_random_uuid(),
                CASE WHEN g % 20 = 0 THEN 'processing' ELSE 'success' END
         FROM generate_series(1, 3000) AS g",
    )
    .execute(&pool)
    .await
    .unwrap();

    let plan = record_plan(&records_pool(&pool)).await;
    assert!(
        plan.contains("Hash Join") && !plan.contains("Nested Loop"),
        "the record's plan:\n{plan}"
    );
    assert!(plan.contains("Update on deliveries d  (") && plan.contains("(actual rows=150 "));

    // The premise: with sequential scans priced out alone, as before, the batch is read
    // again for every one of its rows.
    let plan = record_plan(&derived_pool(&pool, &[INDEX_LOOKUPS], Warm::default())).await;
    assert!(
        plan.contains("Nested Loop") && plan.contains("loops=150)"),
        "{plan}"
    );
}
