//! Publish marks against a real database: an event's first jobs leave the event outbox with
//! its row; a later job's mark lands only on the job's own generation, and never waits for a
//! row another writer holds.

use std::time::Duration;

use herald_runtime::outbox::Confirmed;
use herald_runtime::publish_marks::PublishMarks;
use sqlx::PgPool;
use uuid::Uuid;

/// Per generation given, an event with one pending delivery at that generation; returns
/// `(delivery, event)` of each. The tables keep no foreign keys, and marks read neither the
/// tenant nor the webhook.
async fn deliveries(pool: &PgPool, generations: &[i32]) -> Vec<(Uuid, Uuid)> {
    let rows: Vec<(Uuid, Uuid)> = generations
        .iter()
        .map(|_| (Uuid::now_v7(), Uuid::now_v7()))
        .collect();
    let (ids, events): (Vec<Uuid>, Vec<Uuid>) = rows.iter().copied().unzip();
    sqlx::query(
        "INSERT INTO deliveries (id, tenant_id, event_id, webhook_id, generation)
         SELECT id, gen_random_uuid(), event, gen_random_uuid(), generation
         FROM unnest($1::uuid[], $2::uuid[], $3::int[]) AS r (id, event, generation)",
    )
    .bind(&ids)
    .bind(&events)
    .bind(generations)
    .execute(pool)
    .await
    .unwrap();
    rows
}

fn later_jobs(jobs: &[(Uuid, i32)]) -> Confirmed {
    Confirmed {
        jobs: jobs.to_vec(),
        ..Confirmed::default()
    }
}

async fn event_outbox(pool: &PgPool) -> Vec<Uuid> {
    sqlx::query_scalar("SELECT event_id FROM event_outbox ORDER BY event_id")
        .fetch_all(pool)
        .await
        .unwrap()
}

async fn marked(pool: &PgPool, delivery: Uuid) -> bool {
    sqlx::query_scalar("SELECT published_at IS NOT NULL FROM deliveries WHERE id = $1")
        .bind(delivery)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_new_delivery_enters_the_event_outbox_through_its_event(pool: PgPool) {
    let rows = deliveries(&pool, &[0, 0, 1]).await;
    // The first two are first jobs; the third, at generation 1, is a later job's delivery.
    let mut expected = vec![rows[0].1, rows[1].1];
    expected.sort();
    assert_eq!(event_outbox(&pool).await, expected);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn an_events_mark_takes_it_out_of_the_event_outbox(pool: PgPool) {
    let rows = deliveries(&pool, &[0, 0]).await;
    let marks = PublishMarks::new(pool.clone());
    let confirmed = Confirmed {
        events: vec![rows[0].1],
        ..Confirmed::default()
    };
    marks.mark_now(&confirmed).await.unwrap();
    assert_eq!(event_outbox(&pool).await, [rows[1].1]);
    assert!(
        !marked(&pool, rows[0].0).await,
        "a first job's delivery row is left as it is"
    );
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_mark_lands_on_its_own_generation_only(pool: PgPool) {
    let rows = deliveries(&pool, &[1, 2]).await;
    let ids: Vec<Uuid> = rows.iter().map(|(delivery, _)| *delivery).collect();
    let marks = PublishMarks::new(pool.clone());
    // The second delivery moved on to generation 2: a confirmation of its old job says
    // nothing about the new one.
    marks
        .mark_now(&later_jobs(&[(ids[0], 1), (ids[1], 1)]))
        .await
        .unwrap();
    assert!(marked(&pool, ids[0]).await);
    assert!(!marked(&pool, ids[1]).await);
    marks.mark_now(&later_jobs(&[(ids[1], 2)])).await.unwrap();
    assert!(marked(&pool, ids[1]).await);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_mark_skips_a_row_another_writer_holds(pool: PgPool) {
    let rows = deliveries(&pool, &[1, 1]).await;
    let ids: Vec<Uuid> = rows.iter().map(|(delivery, _)| *delivery).collect();
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
        marks.mark_now(&later_jobs(&[(ids[0], 1), (ids[1], 1)])),
    )
    .await
    .expect("the mark waited for a locked row")
    .unwrap();
    claim.rollback().await.unwrap();
    assert!(!marked(&pool, ids[0]).await);
    assert!(marked(&pool, ids[1]).await);
}
