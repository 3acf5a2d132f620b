//! The outbox relay: deliveries that are `pending` and due with no confirmed publish are
//! published (again). That covers an ingest that died after commit, NATS being down, and a
//! dispatcher that died before publishing a retry it had scheduled. Runs beside the API.

use std::time::Duration;

use anyhow::Context;
use herald_domain::job::DeliveryJob;
use herald_runtime::shutdown::ShutdownToken;
use prometheus_client::metrics::gauge::Gauge;
use sqlx::PgPool;
use uuid::Uuid;

use herald_runtime::outbox::OutboxJob;

use crate::publisher::Publisher;

/// How often the relay looks.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// A job due less than this long ago is left to whoever made it (the request, or the
/// dispatcher's retry timer).
pub const GRACE: Duration = Duration::from_secs(2);
const BATCH: i64 = 500;

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

/// One pass: brings the JetStream topology up to date when tenants changed since the last
/// pass or a change to it failed (NATS down when a tenant was created, disabled or enabled),
/// then publishes up to a batch of unpublished deliveries older than `grace`.
pub async fn relay_once(
    publisher: &Publisher,
    pool: &PgPool,
    grace: Duration,
) -> anyhow::Result<usize> {
    publisher.ensure_topology_if_stale().await?;
    let rows: Vec<Unpublished> = sqlx::query_as(
        "SELECT d.id, d.event_id, d.webhook_id, d.tenant_id, d.generation, t.name AS tenant,
                e.traceparent
         FROM deliveries d JOIN tenants t ON t.id = d.tenant_id JOIN events e ON e.id = d.event_id
         WHERE d.status = 'pending' AND d.published_at IS NULL
           AND coalesce(d.next_attempt_at, d.created_at) < now() - make_interval(secs => $1)
         ORDER BY coalesce(d.next_attempt_at, d.created_at) LIMIT $2",
    )
    .bind(grace.as_secs_f64())
    .bind(BATCH)
    .fetch_all(pool)
    .await
    .context("finding unpublished deliveries")?;
    let jobs: Vec<OutboxJob> = rows
        .into_iter()
        .map(|r| OutboxJob {
            job: DeliveryJob {
                delivery_id: r.id,
                event_id: r.event_id,
                webhook_id: r.webhook_id,
                tenant_id: r.tenant_id,
                generation: r.generation,
            },
            tenant: r.tenant,
            // Relayed jobs, retries included, join the trace of the emitting request.
            traceparent: r.traceparent,
        })
        .collect();
    publisher.publish(&jobs).await
}

/// Pending deliveries whose job is due and unconfirmed: what the relay has yet to publish.
pub async fn backlog(pool: &PgPool) -> anyhow::Result<i64> {
    sqlx::query_scalar(
        "SELECT count(*) FROM deliveries
         WHERE status = 'pending' AND published_at IS NULL
           AND coalesce(next_attempt_at, created_at) <= now()",
    )
    .fetch_one(pool)
    .await
    .context("measuring the outbox backlog")
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
