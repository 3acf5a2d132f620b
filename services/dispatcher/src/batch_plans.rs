//! The generic plans of the batched claim and record statements, as their pools' connections
//! make them, look deliveries up by primary key even while the table is small (see
//! `INDEX_LOOKUPS`).

use sqlx::{AssertSqlSafe, PgPool};

use crate::claim_batch::CLAIM;
use crate::record_batch::RECORD;
use crate::{claims_pool, records_pool};

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
