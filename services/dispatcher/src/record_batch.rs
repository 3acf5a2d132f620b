//! Attempts recorded in batches across concurrent jobs (group commit): each job waits until
//! the batch holding its attempt is committed before its ack, as with `store::record`, but a
//! batch costs one statement however many attempts it holds. A 410 that disables the webhook
//! and a delivery that appears twice in one batch take `store::record` instead.

use std::collections::HashSet;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context;
use futures::future::BoxFuture;
use herald_domain::job::DeadReason;
use herald_domain::retry::Decision;
use herald_runtime::group_commit::{BatchResult, GroupCommit, Linger, Sizing};
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::sender::AttemptReport;
use crate::store;

/// One attempt and the state it moves its delivery to.
#[derive(Debug)]
pub struct AttemptRecord {
    pub delivery: Uuid,
    /// The generation the attempt was claimed at: a record moves the delivery only while it
    /// is still processing under that claim's generation.
    pub generation: i32,
    pub webhook: Uuid,
    pub attempt: i32,
    pub report: AttemptReport,
    pub error: Option<String>,
    pub decision: Decision,
}

const QUEUE: usize = 10_000;
const MAX_BATCH: usize = 500;
const WRITERS: usize = 2;
/// A record waits this long for others to share its statement. Nothing a receiver sees waits
/// for it (the attempt is over, its slots are free); only the job's ack comes later.
const LINGER: Duration = Duration::from_millis(10);

/// The group commit of attempts, started on first use (inside the runtime).
pub struct Recorder {
    pool: PgPool,
    commit: OnceLock<GroupCommit<AttemptRecord, Option<i32>>>,
}

impl Recorder {
    /// `pool`: the records pool (see `records_pool`).
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            commit: OnceLock::new(),
        }
    }

    /// Records the attempt and moves the delivery on; the delivery's generation now, or
    /// `None` when the lease was lost meanwhile (nothing changed).
    pub async fn record(&self, record: AttemptRecord) -> anyhow::Result<Option<i32>> {
        if record.decision == Decision::Dead(DeadReason::Gone) {
            // Boxed: a transaction's future is about 9 KB, and every attempt's future would
            // otherwise carry room for it, copied at each await above (see `worker`).
            return Box::pin(record_one(&self.pool, &record)).await;
        }
        Ok(self.commit().submit(record).await?)
    }

    fn commit(&self) -> &GroupCommit<AttemptRecord, Option<i32>> {
        self.commit.get_or_init(|| {
            let pool = self.pool.clone();
            let sizing = Sizing {
                queue: QUEUE,
                max_batch: MAX_BATCH,
                writers: WRITERS,
                linger: Linger::Always(LINGER),
            };
            GroupCommit::spawn("attempt record", sizing, move |records| {
                let pool = pool.clone();
                async move { write(&pool, records).await }
            })
        })
    }
}

async fn record_one(pool: &PgPool, record: &AttemptRecord) -> anyhow::Result<Option<i32>> {
    store::record(pool, record).await
}

/// Writes the batch; a delivery seen earlier in it is written alone afterwards, so that each
/// row is updated by exactly one input.
async fn write(pool: &PgPool, records: Vec<AttemptRecord>) -> BatchResult<Option<i32>> {
    let mut seen = HashSet::with_capacity(records.len());
    let (unique, repeated): (Vec<usize>, Vec<usize>) =
        (0..records.len()).partition(|&i| seen.insert(records[i].delivery));
    let mut generations = vec![None; records.len()];
    let written = write_unique(pool, unique.iter().map(|&i| &records[i])).await?;
    for (i, generation) in unique.into_iter().zip(written) {
        generations[i] = generation;
    }
    for i in repeated {
        generations[i] = record_one(pool, &records[i]).await?;
    }
    Ok(generations)
}

/// The batch's attempt records. The batch arrives as arrays and each row reads its values by
/// position (`j.n`). An `UPDATE ... FROM` keeps a copy of every joined input row (for
/// rechecks under concurrent updates), so the joined input stays two narrow columns: a row
/// of all eleven, texts included, cost a fifth of this statement.
///
/// The `ANY` keeps the plan on the primary key however stale the statistics are (a join on
/// `unnest` alone may scan the whole table); the records pool's connections keep generic
/// plans there too, and join the batch by hash, never once per row (see `records_pool`).
pub(crate) const RECORD: &str = "WITH moved AS (
       UPDATE deliveries d SET status = ($8::text[])[j.n], attempts = ($2::int[])[j.n],
         last_status_code = ($5::int[])[j.n], last_error = ($6::text[])[j.n],
         next_attempt_at = now() + make_interval(secs => ($9::float8[])[j.n]),
         completed_at = CASE WHEN ($8::text[])[j.n] = 'pending' THEN NULL ELSE now() END,
         dead_reason = ($10::text[])[j.n], lease_until = NULL, updated_at = now(),
         generation = d.generation
           + CASE WHEN ($8::text[])[j.n] = 'pending' THEN 1 ELSE 0 END,
         published_at = CASE WHEN ($8::text[])[j.n] = 'pending' THEN NULL
                             ELSE d.published_at END
       FROM unnest($1::uuid[]) WITH ORDINALITY AS j (id, n)
       WHERE d.id = ANY ($1::uuid[]) AND d.id = j.id AND d.status = 'processing'
         AND d.generation = ($11::int[])[j.n]
       RETURNING d.id, d.generation, j.n),
     -- Only the moved rows' attempts, each new (see `store::record`).
     attempts AS (
       INSERT INTO delivery_attempts
         (delivery_id, attempt, started_at, duration_ms, status_code, error, response_body)
       SELECT m.id, ($2::int[])[m.n],
              now() - make_interval(secs => ($3::float8[])[m.n]), ($4::int[])[m.n],
              ($5::int[])[m.n], ($6::text[])[m.n], ($7::text[])[m.n]
       FROM moved m)
     SELECT id, generation FROM moved";

/// The records pool's warm-up (see `herald_runtime::database::Warm`): an empty batch.
pub fn warm_up(conn: &mut PgConnection) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        write_unique(conn, std::iter::empty()).await?;
        Ok(())
    })
}

pub(crate) async fn write_unique<'a>(
    db: impl PgExecutor<'_>,
    records: impl Iterator<Item = &'a AttemptRecord>,
) -> anyhow::Result<Vec<Option<i32>>> {
    let records: Vec<&AttemptRecord> = records.collect();
    let mut columns = Columns::default();
    for record in &records {
        columns.push(record);
    }
    let rows: Vec<(Uuid, i32)> = sqlx::query_as(RECORD)
        .bind(&columns.delivery)
        .bind(&columns.attempt)
        .bind(&columns.took_s)
        .bind(&columns.took_ms)
        .bind(&columns.status_code)
        .bind(&columns.error)
        .bind(&columns.response_body)
        .bind(&columns.status)
        .bind(&columns.retry_in)
        .bind(&columns.dead_reason)
        .bind(&columns.generation)
        .fetch_all(db)
        .await
        .context("recording a batch of attempts")?;
    let moved: std::collections::HashMap<Uuid, i32> = rows.into_iter().collect();
    Ok(records
        .iter()
        .map(|record| moved.get(&record.delivery).copied())
        .collect())
}

/// The batch, column by column, as `unnest` takes it.
#[derive(Default)]
struct Columns<'a> {
    delivery: Vec<Uuid>,
    attempt: Vec<i32>,
    took_s: Vec<f64>,
    took_ms: Vec<i32>,
    status_code: Vec<Option<i32>>,
    error: Vec<Option<&'a str>>,
    response_body: Vec<Option<&'a str>>,
    status: Vec<&'static str>,
    retry_in: Vec<Option<f64>>,
    dead_reason: Vec<Option<&'static str>>,
    generation: Vec<i32>,
}

impl<'a> Columns<'a> {
    fn push(&mut self, record: &'a AttemptRecord) {
        let (status, retry_in, dead_reason) = store::next_state(record.decision);
        let took = record.report.duration;
        self.delivery.push(record.delivery);
        self.attempt.push(record.attempt);
        self.took_s.push(took.as_secs_f64());
        self.took_ms
            .push(i32::try_from(took.as_millis()).unwrap_or(i32::MAX));
        self.status_code
            .push(record.report.status_code().map(i32::from));
        self.error.push(record.error.as_deref());
        self.response_body
            .push(record.report.response_excerpt.as_deref());
        self.status.push(status);
        self.retry_in.push(retry_in);
        self.dead_reason.push(dead_reason);
        self.generation.push(record.generation);
    }
}
