//! Publish marks against a real database: a mark lands only on the job's own generation, and
//! never waits for a row another writer holds.

use std::time::Duration;

use herald_runtime::publish_marks::PublishMarks;
use sqlx::PgPool;
use uuid::Uuid;

/// A tenant, a webhook and an event, and one pending delivery per generation given.
async fn deliveries(pool: &PgPool, generations: &[i32]) -> Vec<Uuid> {
    let (tenant, webhook) = (Uuid::now_v7(), Uuid::now_v7());
    sqlx::query("INSERT INTO tenants (id, name) VALUES ($1, 'acme')")
        .bind(tenant)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO webhooks (id, tenant_id, url, secrets)
         VALUES ($1, $2, 'https://example.com/hook', '[]')",
    )
    .bind(webhook)
    .bind(tenant)
    .execute(pool)
    .await
    .unwrap();
    let mut ids = Vec::new();
    for generation in generations {
        let (event, delivery) = (Uuid::now_v7(), Uuid::now_v7());
        sqlx::query(
            "INSERT INTO events (id, tenant_id, event_type, payload, occurred_at)
             VALUES ($1, $2, 'order.created', '{}', now())",
        )
        .bind(event)
        .bind(tenant)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO deliveries (id, tenant_id, event_id, webhook_id, generation)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(delivery)
        .bind(tenant)
        .bind(event)
        .bind(webhook)
        .bind(generation)
        .execute(pool)
        .await
        .unwrap();
        ids.push(delivery);
    }
    ids
}

async fn marked(pool: &PgPool, delivery: Uuid) -> bool {
    sqlx::query_scalar("SELECT published_at IS NOT NULL FROM deliveries WHERE id = $1")
        .bind(delivery)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_mark_lands_on_its_own_generation_only(pool: PgPool) {
    let ids = deliveries(&pool, &[0, 1]).await;
    let marks = PublishMarks::new(pool.clone());
    // The second delivery moved on to generation 1: a confirmation of its old job says
    // nothing about the new one.
    marks.mark_now(&[(ids[0], 0), (ids[1], 0)]).await.unwrap();
    assert!(marked(&pool, ids[0]).await);
    assert!(!marked(&pool, ids[1]).await);
    marks.mark_now(&[(ids[1], 1)]).await.unwrap();
    assert!(marked(&pool, ids[1]).await);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_mark_skips_a_row_another_writer_holds(pool: PgPool) {
    let ids = deliveries(&pool, &[0, 0]).await;
    // A claim holds the first row (it records the publish itself).
    let mut claim = pool.begin().await.unwrap();
    sqlx::query("SELECT id FROM deliveries WHERE id = $1 FOR UPDATE")
        .bind(ids[0])
        .execute(&mut *claim)
        .await
        .unwrap();
    let marks = PublishMarks::new(pool.clone());
    tokio::time::timeout(
        Duration::from_secs(5),
        marks.mark_now(&[(ids[0], 0), (ids[1], 0)]),
    )
    .await
    .expect("the mark waited for a locked row")
    .unwrap();
    claim.rollback().await.unwrap();
    assert!(!marked(&pool, ids[0]).await);
    assert!(marked(&pool, ids[1]).await);
}
