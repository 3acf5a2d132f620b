//! Ingest's side of the outbox: after `POST /events` commits, its jobs are published within a
//! time limit (past it the relay takes over). Also keeps the JetStream topology in place:
//! the streams, and one consumer per tenant whose `max_ack_pending` is the tenant's quota.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use herald_runtime::jetstream::ConsumerSettings;
use herald_runtime::outbox::{Outbox, OutboxJob};

pub struct Publisher {
    outbox: Outbox,
    /// ack_wait and max_deliver for every tenant consumer; max_ack_pending comes from quotas.
    consumer_defaults: ConsumerSettings,
    topology_ready: AtomicBool,
}

impl Publisher {
    pub fn new(outbox: Outbox, consumer_defaults: ConsumerSettings) -> Self {
        Self {
            outbox,
            consumer_defaults,
            topology_ready: AtomicBool::new(false),
        }
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Streams, and a consumer for every tenant, created where missing.
    pub async fn ensure_topology(&self) -> anyhow::Result<()> {
        let js = self.outbox.jetstream();
        self.outbox.topology().ensure_streams(js).await?;
        let tenants: Vec<(String, i32)> = sqlx::query_as(
            "SELECT t.name, coalesce(q.max_concurrent_deliveries, $1)
             FROM tenants t LEFT JOIN quotas q ON q.tenant_id = t.id",
        )
        .bind(i32::try_from(self.consumer_defaults.max_ack_pending).unwrap_or(i32::MAX))
        .fetch_all(self.outbox.pool())
        .await
        .context("listing tenants for their consumers")?;
        for (name, max_ack_pending) in tenants {
            self.ensure_tenant(&name, i64::from(max_ack_pending))
                .await?;
        }
        self.topology_ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Makes the next publish (or relay pass) ensure the whole topology again.
    pub fn invalidate_topology(&self) {
        self.topology_ready.store(false, Ordering::Release);
    }

    /// The tenant's consumer, with its concurrency quota as `max_ack_pending`.
    pub async fn ensure_tenant(&self, tenant: &str, max_ack_pending: i64) -> anyhow::Result<()> {
        let settings = ConsumerSettings {
            max_ack_pending,
            ..self.consumer_defaults
        };
        let (js, topology) = (self.outbox.jetstream(), self.outbox.topology());
        if !self.topology_ready.load(Ordering::Acquire) {
            topology.ensure_streams(js).await?;
        }
        topology.ensure_tenant_consumer(js, tenant, settings).await
    }

    /// Publishes the jobs, first making sure the topology exists.
    pub async fn publish(&self, jobs: &[OutboxJob]) -> anyhow::Result<usize> {
        if jobs.is_empty() {
            return Ok(0);
        }
        if !self.topology_ready.load(Ordering::Acquire) {
            self.ensure_topology().await?;
        }
        self.outbox.publish(jobs).await
    }

    /// Publishes each job at its offset from now, in the background: a bulk retry's pace.
    /// Should the process stop first, the relay publishes what is left once due.
    pub fn publish_spread(self: &Arc<Self>, mut schedule: Vec<(Duration, OutboxJob)>) {
        schedule.sort_by_key(|(at, _)| *at);
        let publisher = self.clone();
        tokio::spawn(async move {
            let start = tokio::time::Instant::now();
            for (at, job) in schedule {
                tokio::time::sleep_until(start + at).await;
                if let Err(error) = publisher.publish(std::slice::from_ref(&job)).await {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "paced job not published; the relay will"
                    );
                }
            }
        });
    }

    /// Publishes within `limit`, leaving what is not confirmed by then to the relay. The
    /// request path uses this: the database already holds the record.
    pub async fn publish_within(&self, jobs: &[OutboxJob], limit: Duration) {
        if !self.outbox.connected() {
            tracing::debug!("NATS is down; the relay will publish these jobs");
            return;
        }
        match tokio::time::timeout(limit, self.publish(jobs)).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(
                error = format!("{error:#}"),
                "publishing jobs failed; the relay will retry"
            ),
            Err(_) => tracing::warn!("publishing jobs timed out; the relay will retry"),
        }
    }
}
