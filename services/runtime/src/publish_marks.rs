//! The outbox's record of what JetStream confirmed, which keeps the relay from publishing it
//! again:
//! - an event's first jobs (generation 0): its row leaves `event_outbox`;
//! - a later job (a retry's, a deferral's, a manual retry's): its delivery's `published_at`.
//!
//! Two ways to write them, both batched across publishes:
//! - `mark_now`: before the publisher returns (the relay, manual retries);
//! - `mark_later`: `LATER` after the confirmation. A later job's mark is then written only
//!   where no dispatcher has claimed the delivery meanwhile (a claim sets `published_at`
//!   itself), so a job taken at once costs no write; one still queued gets its mark before
//!   the relay's grace runs out. An event's row goes in any case, one row for all its jobs.
//!
//! Marks commit without waiting for the disk: a mark lost in a crash only makes the relay
//! publish the job again, which JetStream's duplicate window and the dispatcher's generation
//! check absorb.

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio::time::Instant;
use uuid::Uuid;

use crate::group_commit::{GroupCommit, Linger, Sizing};
use crate::outbox::Confirmed;

/// How long after its confirmation a deferred mark is written: well under the relay's grace.
pub const LATER: Duration = Duration::from_millis(500);
/// Confirmations waiting for a deferred mark; past it they are dropped (the relay covers
/// them: a republish is deduplicated).
const LATER_QUEUE: usize = 100_000;
const BATCH: usize = 1_000;

/// One confirmation to record.
#[derive(Debug, Clone, Copy)]
enum Mark {
    /// A later job: `(delivery, generation)`.
    Job(Uuid, i32),
    /// Every first job of this event.
    Event(Uuid),
}

fn marks(confirmed: &Confirmed) -> impl Iterator<Item = Mark> + '_ {
    let jobs = confirmed
        .jobs
        .iter()
        .map(|&(id, generation)| Mark::Job(id, generation));
    jobs.chain(confirmed.events.iter().map(|&event| Mark::Event(event)))
}

pub struct PublishMarks {
    pool: PgPool,
    now: OnceLock<GroupCommit<Mark, ()>>,
    later: OnceLock<mpsc::Sender<(Instant, Mark)>>,
}

impl PublishMarks {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            now: OnceLock::new(),
            later: OnceLock::new(),
        }
    }

    /// Records the confirmations and waits for the write.
    pub async fn mark_now(&self, confirmed: &Confirmed) -> anyhow::Result<()> {
        let marks = self.now.get_or_init(|| {
            let pool = self.pool.clone();
            let sizing = Sizing {
                queue: LATER_QUEUE,
                max_batch: BATCH,
                writers: 2,
                linger: Linger::Never,
            };
            GroupCommit::spawn("publish confirmation", sizing, move |jobs| {
                let pool = pool.clone();
                async move {
                    let count = jobs.len();
                    write(&pool, jobs).await?;
                    Ok(vec![(); count])
                }
            })
        });
        let marked = self::marks(confirmed).map(|mark| marks.submit(mark));
        for result in futures::future::join_all(marked).await {
            result.context("marking deliveries published")?;
        }
        Ok(())
    }

    /// Records the confirmations `LATER` (a later job's only where still unclaimed);
    /// returns at once.
    pub fn mark_later(&self, confirmed: &Confirmed) {
        let queue = self.later.get_or_init(|| {
            let (queue, confirmed) = mpsc::channel(LATER_QUEUE);
            tokio::spawn(write_later(self.pool.clone(), confirmed));
            queue
        });
        let at = Instant::now();
        for mark in marks(confirmed) {
            if queue.try_send((at, mark)).is_err() {
                tracing::debug!("deferred publish marks queue full; the relay will cover");
                return;
            }
        }
    }
}

/// Waits until the oldest confirmation is `LATER` old, then writes it with every other one
/// queued by then (a younger one marked a little early is still correct).
async fn write_later(pool: PgPool, mut confirmed: mpsc::Receiver<(Instant, Mark)>) {
    while let Some((at, first)) = confirmed.recv().await {
        tokio::time::sleep_until(at + LATER).await;
        let mut marks = vec![first];
        while marks.len() < BATCH {
            match confirmed.try_recv() {
                Ok((_, mark)) => marks.push(mark),
                Err(_) => break,
            }
        }
        if let Err(error) = write(&pool, marks).await {
            tracing::warn!(
                error = format!("{error:#}"),
                "publish marks not written; the relay will cover"
            );
        }
    }
}

/// Sets `published_at` on the batch's deliveries (`$1`) still at the job's generation (`$2`)
/// and not marked yet.
///
/// One primary-key lookup per job: a join of the whole batch against deliveries turns into
/// a sequential scan once batches are large next to the table. A row locked by a claim or a
/// record is skipped, so a mark never waits (and never deadlocks): a claim sets
/// `published_at` itself, and a record moves the delivery to a new generation or ends it.
///
/// The unmarked test is written `(published_at IS NULL) IS TRUE` so that the planner cannot
/// answer the lookup from the outbox index (`deliveries_unpublished`, whose predicate is
/// `published_at IS NULL`): right after autovacuum finds that index nearly empty, it costs
/// less than the primary key on paper, and every lookup then filters the whole outbox for
/// its id, which under load holds thousands of rows. Marks took 0.3 to 1 s each that way and
/// stalled deliveries for seconds (perf README, ninth round; test
/// `marks_look_deliveries_up_by_primary_key_after_autovacuum`).
const MARK: &str = "WITH unmarked AS MATERIALIZED (
       SELECT l.id FROM unnest($1::uuid[], $2::int[]) AS j (id, generation)
       CROSS JOIN LATERAL (
         SELECT d.id FROM deliveries d
         WHERE d.id = j.id AND d.generation = j.generation AND (d.published_at IS NULL) IS TRUE
         FOR UPDATE SKIP LOCKED) l)
     UPDATE deliveries d SET published_at = now() FROM unmarked u WHERE d.id = u.id";

/// The marks' transaction commits without waiting for the disk (see the module's doc) and
/// plans without sequential scans. Prepared, `MARK` switches to a generic plan after five
/// runs, kept until `deliveries` is next analyzed; made while the table holds a few hundred
/// rows (a new installation's first seconds), its update joins the locked rows to a scan of
/// the whole table, every batch thereafter. Priced out, the plan keeps to the primary key
/// (as the dispatcher's claims do: `INDEX_LOOKUPS` there). Nothing a mark runs wants a
/// sequential scan.
const SETTINGS: &str = "SELECT set_config('synchronous_commit', 'off', true),
                               set_config('enable_seqscan', 'off', true)";

/// Takes the events out of the event outbox. The ids go sorted, the order an index scan
/// visits them in, so two batches meeting on events (the relay's and a request's) lock them
/// in the same order; should two still deadlock (a plan that visits rows by their place on
/// disk), one fails, and the relay covers its events.
const SETTLE: &str = "DELETE FROM event_outbox WHERE event_id = ANY ($1)";

/// Writes a batch of marks in one transaction.
async fn write(pool: &PgPool, marks: Vec<Mark>) -> anyhow::Result<()> {
    let (mut ids, mut generations, mut events) = (Vec::new(), Vec::new(), Vec::new());
    for mark in marks {
        match mark {
            Mark::Job(id, generation) => {
                ids.push(id);
                generations.push(generation);
            }
            Mark::Event(event) => events.push(event),
        }
    }
    events.sort_unstable();
    let mut tx = pool
        .begin()
        .await
        .context("starting the marks transaction")?;
    sqlx::query(SETTINGS)
        .execute(&mut *tx)
        .await
        .context("setting up the marks' transaction")?;
    if !ids.is_empty() {
        sqlx::query(MARK)
            .bind(&ids)
            .bind(&generations)
            .execute(&mut *tx)
            .await
            .context("marking deliveries published")?;
    }
    if !events.is_empty() {
        sqlx::query(SETTLE)
            .bind(&events)
            .execute(&mut *tx)
            .await
            .context("taking events out of the event outbox")?;
    }
    tx.commit().await.context("committing the marks")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Autovacuum leaves statistics saying the outbox index is nearly empty (every delivery
    /// published); the marks must still look each job up by primary key.
    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn marks_look_deliveries_up_by_primary_key_after_autovacuum(pool: PgPool) {
        sqlx::query(
            "INSERT INTO deliveries (id, tenant_id, event_id, webhook_id, status, published_at)
             SELECT gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), gen_random_uuid(),
                    'success', now()
             FROM generate_series(1, 100000)",
        )
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query("VACUUM ANALYZE deliveries")
            .execute(&pool)
            .await
            .unwrap();
        let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("EXPLAIN {MARK}")))
            .bind(vec![Uuid::now_v7(); 10])
            .bind(vec![0; 10])
            .fetch_all(&pool)
            .await
            .unwrap();
        let plan = plan.join("\n");
        assert!(!plan.contains("deliveries_unpublished"), "{plan}");
        assert_eq!(
            plan.matches("Index Scan using deliveries_pkey").count(),
            2,
            "{plan}"
        );
    }

    /// The plan PostgreSQL settles on for `MARK` once it goes generic, with `settings` (if
    /// any) run first in the same transaction.
    async fn generic_mark_plan(pool: &PgPool, settings: Option<&str>) -> String {
        let mut tx = pool.begin().await.unwrap();
        if let Some(settings) = settings {
            sqlx::query(sqlx::AssertSqlSafe(settings))
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        sqlx::query("SET LOCAL plan_cache_mode = force_generic_plan")
            .execute(&mut *tx)
            .await
            .unwrap();
        let prepare = format!("PREPARE mark (uuid[], int[]) AS {MARK}");
        sqlx::query(sqlx::AssertSqlSafe(prepare))
            .execute(&mut *tx)
            .await
            .unwrap();
        let plan: Vec<String> = sqlx::query_scalar("EXPLAIN EXECUTE mark ('{}', '{}')")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        sqlx::query("DEALLOCATE mark")
            .execute(&mut *tx)
            .await
            .unwrap();
        plan.join("\n")
    }

    /// A generic plan made while the table holds a few hundred rows, as in a new
    /// installation's first seconds, scans it whole on a plain connection; in the marks'
    /// transaction it keeps to the primary key.
    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn generic_plans_of_marks_keep_to_the_primary_key(pool: PgPool) {
        sqlx::query(
            "INSERT INTO deliveries (id, tenant_id, event_id, webhook_id)
             SELECT gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), gen_random_uuid()
             FROM generate_series(1, 300)",
        )
        .execute(&pool)
        .await
        .unwrap();
        let plain = generic_mark_plan(&pool, None).await;
        assert!(plain.contains("Seq Scan on deliveries"), "{plain}");
        let plan = generic_mark_plan(&pool, Some(SETTINGS)).await;
        assert!(!plan.contains("Seq Scan on deliveries"), "{plan}");
        assert_eq!(
            plan.matches("Index Scan using deliveries_pkey").count(),
            2,
            "{plan}"
        );
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn a_mark_sets_only_unmarked_deliveries_of_the_jobs_generation(pool: PgPool) {
        let ids = [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
        sqlx::query(
            "INSERT INTO deliveries (id, tenant_id, event_id, webhook_id, generation, published_at)
             SELECT id, gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 1, published
             FROM unnest($1::uuid[], $2::timestamptz[]) AS r (id, published)",
        )
        .bind(&ids[..])
        .bind(vec![None, None, Some(chrono::DateTime::UNIX_EPOCH)])
        .execute(&pool)
        .await
        .unwrap();
        // The first at its generation, the second at an older one, the third already marked.
        let marks = vec![
            Mark::Job(ids[0], 1),
            Mark::Job(ids[1], 0),
            Mark::Job(ids[2], 1),
        ];
        write(&pool, marks).await.unwrap();
        let marked: Vec<(Uuid, Option<chrono::DateTime<chrono::Utc>>)> =
            sqlx::query_as("SELECT id, published_at FROM deliveries WHERE id = ANY ($1)")
                .bind(&ids[..])
                .fetch_all(&pool)
                .await
                .unwrap();
        let published = |id| marked.iter().find(|(i, _)| *i == id).unwrap().1;
        assert!(published(ids[0]).is_some_and(|at| at > chrono::DateTime::UNIX_EPOCH));
        assert_eq!(published(ids[1]), None);
        assert_eq!(published(ids[2]), Some(chrono::DateTime::UNIX_EPOCH));
    }
}
