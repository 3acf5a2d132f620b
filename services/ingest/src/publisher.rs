//! Handing delivery jobs to JetStream: the transactional outbox. `POST /events` commits the
//! deliveries, then publishes their jobs with pipelined acks and marks them `published_at`.
//! Whatever is not confirmed (the process died, NATS was down) the relay publishes later;
//! JetStream's duplicate window and the dispatcher's idempotency absorb any repeat.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::Context as JetStream;
use async_nats::jetstream::message::PublishMessage;
use herald_domain::job::DeliveryJob;
use herald_runtime::jetstream::{ConsumerSettings, Topology};
use sqlx::PgPool;
use uuid::Uuid;

/// A job and where it goes.
#[derive(Debug, Clone)]
pub struct OutboxJob {
    pub job: DeliveryJob,
    pub tenant: String,
    pub traceparent: Option<String>,
}

pub struct Publisher {
    js: JetStream,
    topology: Topology,
    pool: PgPool,
    /// ack_wait and max_deliver for every tenant consumer; max_ack_pending comes from quotas.
    consumer_defaults: ConsumerSettings,
    topology_ready: AtomicBool,
}

impl Publisher {
    pub fn new(
        js: JetStream,
        topology: Topology,
        pool: PgPool,
        consumer_defaults: ConsumerSettings,
    ) -> Self {
        Self {
            js,
            topology,
            pool,
            consumer_defaults,
            topology_ready: AtomicBool::new(false),
        }
    }

    /// Streams, and a consumer for every tenant, created where missing.
    pub async fn ensure_topology(&self) -> anyhow::Result<()> {
        self.topology.ensure_streams(&self.js).await?;
        let tenants: Vec<(String, i32)> = sqlx::query_as(
            "SELECT t.name, coalesce(q.max_concurrent_deliveries, $1)
             FROM tenants t LEFT JOIN quotas q ON q.tenant_id = t.id",
        )
        .bind(self.consumer_defaults.max_ack_pending as i32)
        .fetch_all(&self.pool)
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
        if !self.topology_ready.load(Ordering::Acquire) {
            self.topology.ensure_streams(&self.js).await?;
        }
        self.topology
            .ensure_tenant_consumer(&self.js, tenant, settings)
            .await
    }

    /// Publishes the jobs with pipelined acks and records which JetStream confirmed.
    /// Returns how many were confirmed.
    pub async fn publish(&self, jobs: &[OutboxJob]) -> anyhow::Result<usize> {
        if jobs.is_empty() {
            return Ok(0);
        }
        if !self.topology_ready.load(Ordering::Acquire) {
            self.ensure_topology().await?;
        }
        let mut pending = Vec::with_capacity(jobs.len());
        for outbox in jobs {
            let webhook = herald_domain::WebhookId::from_uuid(outbox.job.webhook_id).to_string();
            let subject = self.topology.job_subject(&outbox.tenant, &webhook);
            let payload = serde_json::to_vec(&outbox.job).context("encoding a job")?;
            let mut message = PublishMessage::build()
                .payload(payload.into())
                .message_id(outbox.job.message_id());
            if let Some(traceparent) = &outbox.traceparent {
                message = message.header("traceparent", traceparent.as_str());
            }
            let ack = self
                .js
                .send_publish(subject, message)
                .await
                .context("publishing a delivery job")?;
            pending.push((outbox.job.delivery_id, ack));
        }
        let mut confirmed: Vec<Uuid> = Vec::with_capacity(pending.len());
        let acks = futures::future::join_all(
            pending
                .into_iter()
                .map(|(id, ack)| async move { ack.await.map(|_| id) }),
        )
        .await;
        let mut failures = 0;
        for ack in acks {
            match ack {
                Ok(id) => confirmed.push(id),
                Err(error) => {
                    failures += 1;
                    tracing::debug!(%error, "publish not confirmed; the relay will retry");
                }
            }
        }
        if failures > 0 {
            tracing::warn!(
                failures,
                "some delivery jobs were not confirmed; the relay will retry"
            );
        }
        self.mark_published(&confirmed).await?;
        Ok(confirmed.len())
    }

    async fn mark_published(&self, ids: &[Uuid]) -> anyhow::Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        sqlx::query("UPDATE deliveries SET published_at = now() WHERE id = ANY($1) AND published_at IS NULL")
            .bind(ids)
            .execute(&self.pool)
            .await
            .context("marking deliveries published")?;
        Ok(())
    }

    /// Publishes within `limit`, leaving what is not confirmed by then to the relay. The
    /// request path uses this: the database already holds the record.
    pub async fn publish_within(&self, jobs: &[OutboxJob], limit: Duration) {
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
