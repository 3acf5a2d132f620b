//! The outbox relay: jobs stored but not confirmed on JetStream once due are published
//! (again). That covers an ingest that died after commit, NATS being down, and a dispatcher
//! that died before publishing a retry it had scheduled. Runs beside the API.
//!
//! Two outboxes (see design.md, "Write path"): an event's first jobs wait in `event_outbox`,
//! one row per event; a later job (a retry's, a deferral's, a manual retry's) is a pending
//! delivery at a generation above 0 whose `published_at` is unset.

use std::time::Duration;

use anyhow::Context;
use herald_domain::job::DeliveryJob;
use herald_runtime::shutdown::ShutdownToken;
use prometheus_client::metrics::gauge::Gauge;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use herald_runtime::outbox::OutboxJob;

use crate::publisher::Publisher;

/// How often the relay looks.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// A job due less than this long ago is left to whoever made it (the request, or the
/// dispatcher's retry timer).
pub const GRACE: Duration = Duration::from_secs(2);
/// Events, and later jobs, per pass.
const BATCH: i64 = 500;

/// The relay's reads look rows up by index only: each is prepared and may settle on a
/// generic plan, kept until the table is next analyzed, and one made while the tables are
/// nearly empty (a new installation's first seconds) would scan them whole once they have
/// grown, as the dispatcher's claims once did (`INDEX_LOOKUPS` there). They are not compiled
/// either: the backlog's estimate (a lookup per outbox row, priced for thousands of rows)
/// crossed `jit_above_cost`, and compiling took 130 ms of a count that runs in 1.5.
const INDEX_LOOKUPS: &str =
    "SELECT set_config('enable_seqscan', 'off', true), set_config('jit', 'off', true)";

#[derive(sqlx::FromRow)]
struct Unpublished {
    id: Uuid,
    event_id: Uuid,
    webhook_id: Uuid,
    tenant_id: Uuid,
    generation: i32,
    tenant: String,
    traceparent: Option<String>,
}

impl Unpublished {
    fn job(self) -> OutboxJob {
        OutboxJob {
            job: DeliveryJob {
                delivery_id: self.id,
                event_id: self.event_id,
                webhook_id: self.webhook_id,
                tenant_id: self.tenant_id,
                generation: self.generation,
            },
            tenant: self.tenant,
            // Relayed jobs, retries included, join the trace of the emitting request.
            traceparent: self.traceparent,
        }
    }
}

/// One pass: brings the JetStream topology up to date when tenants changed since the last
/// pass or a change to it failed (NATS down when a tenant was created, disabled or enabled),
/// then publishes the pending first jobs of up to a batch of events in the event outbox for
/// longer than `grace`, and up to a batch of later jobs due more than `grace` ago. Returns
/// how many jobs JetStream confirmed.
pub async fn relay_once(
    publisher: &Publisher,
    pool: &PgPool,
    grace: Duration,
) -> anyhow::Result<usize> {
    publisher.ensure_topology_if_stale().await?;
    let first = relay_first_jobs(publisher, pool, grace).await?;
    let later = relay_later_jobs(publisher, pool, grace).await?;
    Ok(first + later)
}

async fn index_lookups(pool: &PgPool) -> anyhow::Result<Transaction<'static, Postgres>> {
    let mut tx = pool.begin().await.context("starting the relay's read")?;
    sqlx::query(INDEX_LOOKUPS)
        .execute(&mut *tx)
        .await
        .context("setting up the relay's read")?;
    Ok(tx)
}

/// The events in the event outbox for longer than `grace`: their pending first jobs are
/// published again, and an event with none left pending (all claimed or ended, its mark
/// lost) just leaves the outbox.
async fn relay_first_jobs(
    publisher: &Publisher,
    pool: &PgPool,
    grace: Duration,
) -> anyhow::Result<usize> {
    let mut tx = index_lookups(pool).await?;
    let events: Vec<Uuid> = sqlx::query_scalar(
        "SELECT event_id FROM event_outbox
         WHERE created_at < now() - make_interval(secs => $1)
         ORDER BY created_at LIMIT $2",
    )
    .bind(grace.as_secs_f64())
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await
    .context("finding events whose first jobs are unconfirmed")?;
    if events.is_empty() {
        return Ok(0);
    }
    let rows: Vec<Unpublished> = sqlx::query_as(
        "SELECT d.id, d.event_id, d.webhook_id, d.tenant_id, d.generation, t.name AS tenant,
                e.traceparent
         FROM deliveries d JOIN tenants t ON t.id = d.tenant_id JOIN events e ON e.id = d.event_id
         WHERE d.event_id = ANY ($1::uuid[]) AND d.status = 'pending' AND d.generation = 0",
    )
    .bind(&events)
    .fetch_all(&mut *tx)
    .await
    .context("finding the pending first jobs of those events")?;
    tx.commit().await.context("ending the relay's read")?;
    let with_jobs: std::collections::HashSet<Uuid> = rows.iter().map(|r| r.event_id).collect();
    let settled: Vec<Uuid> = events
        .into_iter()
        .filter(|event| !with_jobs.contains(event))
        .collect();
    if !settled.is_empty() {
        publisher.settle_events(settled).await?;
    }
    let jobs: Vec<OutboxJob> = rows.into_iter().map(Unpublished::job).collect();
    publisher.publish(&jobs).await
}

/// Later jobs due more than `grace` ago and not confirmed.
async fn relay_later_jobs(
    publisher: &Publisher,
    pool: &PgPool,
    grace: Duration,
) -> anyhow::Result<usize> {
    let mut tx = index_lookups(pool).await?;
    let rows: Vec<Unpublished> = sqlx::query_as(
        "SELECT d.id, d.event_id, d.webhook_id, d.tenant_id, d.generation, t.name AS tenant,
                e.traceparent
         FROM deliveries d JOIN tenants t ON t.id = d.tenant_id JOIN events e ON e.id = d.event_id
         WHERE d.status = 'pending' AND d.published_at IS NULL AND d.generation > 0
           AND coalesce(d.next_attempt_at, d.created_at) < now() - make_interval(secs => $1)
         ORDER BY coalesce(d.next_attempt_at, d.created_at) LIMIT $2",
    )
    .bind(grace.as_secs_f64())
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await
    .context("finding unpublished later jobs")?;
    tx.commit().await.context("ending the relay's read")?;
    let jobs: Vec<OutboxJob> = rows.into_iter().map(Unpublished::job).collect();
    publisher.publish(&jobs).await
}

/// Pending jobs not confirmed on JetStream, due: what the relay has yet to publish (or
/// what a request's publish will confirm within a moment). The pending first jobs of the
/// events in the event outbox, and the later jobs due.
///
/// The first jobs are counted event by event (a subquery per outbox row): written as a
/// join, the plan made with stale statistics walked a whole index of `deliveries` (26 ms a
/// count with 60,000 rows, every second) to find the few dozen jobs of the outbox's events.
pub async fn backlog(pool: &PgPool) -> anyhow::Result<i64> {
    let mut tx = index_lookups(pool).await?;
    let waiting = sqlx::query_scalar(
        "SELECT (SELECT coalesce(sum((SELECT count(*) FROM deliveries d
                                      WHERE d.event_id = o.event_id AND d.status = 'pending'
                                        AND d.generation = 0)), 0)::bigint
                 FROM event_outbox o)
              + (SELECT count(*) FROM deliveries
                 WHERE status = 'pending' AND published_at IS NULL AND generation > 0
                   AND coalesce(next_attempt_at, created_at) <= now())",
    )
    .fetch_one(&mut *tx)
    .await
    .context("measuring the outbox backlog")?;
    tx.commit().await.context("ending the backlog's read")?;
    Ok(waiting)
}

pub async fn run(
    publisher: std::sync::Arc<Publisher>,
    pool: PgPool,
    grace: Duration,
    backlog_gauge: Gauge,
    shutdown: ShutdownToken,
) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {
                match relay_once(&publisher, &pool, grace).await {
                    Ok(0) => {}
                    Ok(published) => tracing::info!(published, "relay published outstanding delivery jobs"),
                    Err(error) => tracing::warn!(error = format!("{error:#}"), "relay pass failed"),
                }
                if let Ok(waiting) = backlog(&pool).await {
                    backlog_gauge.set(waiting);
                }
            }
        }
    }
}
