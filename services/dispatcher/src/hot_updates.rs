//! A first job's claim and its attempt record rewrite the delivery row in place (HOT
//! updates): no new index entries, one WAL record each. A claim that changed a column an
//! index names (`published_at`, in the outbox index's predicate) would write a new row
//! version and an entry in every index of the table.

use sqlx::PgPool;
use uuid::Uuid;

use crate::claim_batch::CLAIM;
use crate::record_batch::RECORD;

/// A pending delivery at `generation`, with the tenant, webhook and event a claim joins.
async fn delivery(pool: &PgPool, generation: i32) -> Uuid {
    let delivery = Uuid::now_v7();
    sqlx::query(
        "WITH t AS (INSERT INTO tenants (id, name) VALUES ($1, 'acme-' || $1::text) RETURNING id),
              w AS (INSERT INTO webhooks (id, tenant_id, url, secrets)
                    SELECT $2, id, 'https://example.com/hook', '[]' FROM t RETURNING tenant_id),
              e AS (INSERT INTO events (id, tenant_id, event_type, payload, occurred_at)
                    SELECT $3, tenant_id, 'order.created', '{}', now() FROM w
                    RETURNING id, tenant_id)
         INSERT INTO deliveries (id, tenant_id, event_id, webhook_id, generation)
         SELECT $4, tenant_id, id, $2, $5 FROM e",
    )
    .bind(Uuid::now_v7())
    .bind(Uuid::now_v7())
    .bind(Uuid::now_v7())
    .bind(delivery)
    .bind(generation)
    .execute(pool)
    .await
    .unwrap();
    delivery
}

/// Claims the delivery and records a successful attempt, in one transaction; returns how
/// many of the transaction's updates of `deliveries` were HOT, of how many.
async fn claim_and_record(pool: &PgPool, delivery: Uuid, generation: i32) -> (i64, i64) {
    let mut tx = pool.begin().await.unwrap();
    let claimed = sqlx::query(CLAIM)
        .bind(vec![delivery])
        .bind(vec![generation])
        .bind(30.0_f64)
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "claimed");
    let recorded = sqlx::query(RECORD)
        .bind(vec![delivery])
        .bind(vec![1_i32])
        .bind(vec![0.01_f64])
        .bind(vec![10_i32])
        .bind(vec![Some(200_i32)])
        .bind(vec![None::<String>])
        .bind(vec![None::<String>])
        .bind(vec!["success"])
        .bind(vec![None::<f64>])
        .bind(vec![None::<String>])
        .bind(vec![generation])
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(recorded.len(), 1, "recorded");
    let counts = sqlx::query_as(
        "SELECT pg_stat_get_xact_tuples_hot_updated('deliveries'::regclass),
                pg_stat_get_xact_tuples_updated('deliveries'::regclass)",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    counts
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_first_jobs_claim_and_record_rewrite_the_row_in_place(pool: PgPool) {
    let first = delivery(&pool, 0).await;
    assert_eq!(claim_and_record(&pool, first, 0).await, (2, 2));
}

/// The premise: a later job's claim records its publish in `published_at`, which the outbox
/// index's predicate names, and is not HOT.
#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_later_jobs_claim_is_not_rewritten_in_place(pool: PgPool) {
    let later = delivery(&pool, 1).await;
    assert_eq!(claim_and_record(&pool, later, 1).await, (1, 2));
}
