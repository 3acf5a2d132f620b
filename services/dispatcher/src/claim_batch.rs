//! Claims, made in batches across concurrent jobs (group commit): one statement claims a
//! whole batch and reads what each attempt needs, the tenant's retry schedule included.
//! A delivery is claimable when it is `pending` and due, or `processing` under a lease that
//! ran out (its dispatcher died). A claim of a later job (a retry's) also records that the
//! job was published (it arrived), where nothing had yet. The lease is the ack wait, short next to an attempt's
//! timeout; an attempt in progress renews it (`hold`), so a dead dispatcher's deliveries are
//! claimable again within one ack wait while a live one keeps its own however long it takes.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context;
use futures::future::BoxFuture;
use herald_runtime::group_commit::{BatchResult, GroupCommit, Linger, Sizing};
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::store::Claimed;

const QUEUE: usize = 10_000;
const MAX_BATCH: usize = 500;
const WRITERS: usize = 2;
/// Under load (a job every 6 ms or more often), a claim waits this long for others to share
/// its statement: a delivery starts up to 3 ms later, and PostgreSQL claims several events'
/// jobs at once instead of about one event's. At a quiet moment a job is claimed at once.
const LINGER: Duration = Duration::from_millis(3);

type Job = (Uuid, i32);

#[derive(sqlx::FromRow)]
pub(crate) struct ClaimedRow {
    id: Uuid,
    #[sqlx(flatten)]
    claimed: Claimed,
}

/// The group commit of claims, started on first use (inside the runtime).
pub struct Claimer {
    pool: PgPool,
    lease: Duration,
    commit: OnceLock<GroupCommit<Job, Option<Claimed>>>,
}

impl Claimer {
    /// `pool`: the claims pool (see `claims_pool`); `lease`: how long a claim holds.
    pub fn new(pool: PgPool, lease: Duration) -> Self {
        Self {
            pool,
            lease,
            commit: OnceLock::new(),
        }
    }

    /// Takes the delivery at this generation for one attempt; `None`: not claimable now.
    pub async fn claim(&self, delivery: Uuid, generation: i32) -> anyhow::Result<Option<Claimed>> {
        Ok(self.commit().submit((delivery, generation)).await?)
    }

    /// Renews the claim every third of the lease until dropped: while an attempt runs,
    /// nobody else takes its delivery. A renewal that fails is retried at the next turn; the
    /// lease left is still two turns long.
    pub async fn hold(&self, delivery: Uuid, generation: i32) -> Infallible {
        loop {
            tokio::time::sleep(self.lease / 3).await;
            match renew(&self.pool, self.lease, delivery, generation).await {
                Ok(true) => {}
                Ok(false) => tracing::warn!("claim not renewed: the delivery moved on"),
                Err(error) => tracing::warn!(error = format!("{error:#}"), "claim not renewed"),
            }
        }
    }

    fn commit(&self) -> &GroupCommit<Job, Option<Claimed>> {
        self.commit.get_or_init(|| {
            let (pool, lease) = (self.pool.clone(), self.lease);
            let sizing = Sizing {
                queue: QUEUE,
                max_batch: MAX_BATCH,
                writers: WRITERS,
                linger: Linger::WhenBusy(LINGER),
            };
            GroupCommit::spawn("claim", sizing, move |jobs| {
                let pool = pool.clone();
                async move { claim_all(&pool, lease, jobs).await }
            })
        })
    }
}

/// Extends the lease of a claim still in place; `false`: the delivery is no longer
/// `processing` at this generation.
async fn renew(
    pool: &PgPool,
    lease: Duration,
    delivery: Uuid,
    generation: i32,
) -> anyhow::Result<bool> {
    let renewed = sqlx::query(
        "UPDATE deliveries SET lease_until = now() + make_interval(secs => $3)
         WHERE id = $1 AND generation = $2 AND status = 'processing'",
    )
    .bind(delivery)
    .bind(generation)
    .bind(lease.as_secs_f64())
    .execute(pool)
    .await
    .context("renewing a claim")?;
    Ok(renewed.rows_affected() == 1)
}

/// The batch's claim. The `ANY` keeps the plan on the primary key however stale the
/// statistics are; the claims pool's connections keep generic plans there too (see
/// `claims_pool`). Each row's generation is looked up by its place in the ids (ids are
/// unique in a batch, see `claim_all`), not joined from an `unnest` of the arrays: estimating
/// one claimable row, the planner joined that `unnest` as the inner side of a nested loop and
/// unnested the arrays again for every delivery, quadratic in the batch. A first job's claim
/// leaves `published_at` alone: the event outbox tracks that job, and a changed
/// `published_at` (a column of the outbox index's predicate) would cost a new row version
/// and an entry in every index instead of a rewrite in place.
pub(crate) const CLAIM: &str = "WITH claimed AS (
       UPDATE deliveries d SET status = 'processing', updated_at = now(),
              lease_until = now() + make_interval(secs => $3),
              published_at = CASE WHEN d.generation = 0 THEN d.published_at
                                  ELSE coalesce(d.published_at, now()) END
       WHERE d.id = ANY ($1::uuid[])
         AND d.generation = ($2::int[])[array_position($1::uuid[], d.id)] AND (
             (d.status = 'pending' AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= now()))
          OR (d.status = 'processing' AND d.lease_until < now()))
       RETURNING d.id, d.attempts, d.attempt_base, d.webhook_id, d.event_id, d.tenant_id)
     SELECT c.id, c.attempts, c.attempt_base, w.url, w.secrets, w.enabled AS webhook_enabled,
            w.deleted_at IS NOT NULL AS webhook_deleted, w.disabled_reason,
            e.event_type, e.payload, e.occurred_at, e.created_at, t.retry_schedule_ms
     FROM claimed c JOIN webhooks w ON w.id = c.webhook_id JOIN events e ON e.id = c.event_id
          JOIN tenants t ON t.id = c.tenant_id";

pub(crate) async fn claim_rows(
    db: impl PgExecutor<'_>,
    ids: &[Uuid],
    generations: &[i32],
    lease: Duration,
) -> anyhow::Result<Vec<ClaimedRow>> {
    sqlx::query_as(CLAIM)
        .bind(ids)
        .bind(generations)
        .bind(lease.as_secs_f64())
        .fetch_all(db)
        .await
        .context("claiming a batch of deliveries")
}

/// The claims pool's warm-up (see `herald_runtime::database::Warm`): an empty claim.
pub fn warm_up(conn: &mut PgConnection) -> BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(async move {
        claim_rows(conn, &[], &[], Duration::ZERO).await?;
        Ok(())
    })
}

/// Claims every job of the batch that is claimable. A delivery named twice is claimed for the
/// first only: the second finds it taken, as it would a moment later.
async fn claim_all(pool: &PgPool, lease: Duration, jobs: Vec<Job>) -> BatchResult<Option<Claimed>> {
    let mut seen = HashSet::with_capacity(jobs.len());
    let first: Vec<bool> = jobs.iter().map(|(id, _)| seen.insert(*id)).collect();
    let (ids, generations): (Vec<Uuid>, Vec<i32>) = jobs
        .iter()
        .zip(&first)
        .filter(|(_, first)| **first)
        .map(|(job, _)| *job)
        .unzip();
    let rows = claim_rows(pool, &ids, &generations, lease).await?;
    let mut claimed: HashMap<Uuid, Claimed> =
        rows.into_iter().map(|row| (row.id, row.claimed)).collect();
    Ok(jobs
        .iter()
        .zip(first)
        .map(|((id, _), first)| if first { claimed.remove(id) } else { None })
        .collect())
}
