//! The transactional outbox's sending half. A delivery row is committed first; its job is
//! then published here with pipelined acks, and `published_at` records JetStream's
//! confirmation. What is not confirmed (a process died, NATS was down) the relay publishes
//! once due; JetStream's duplicate window and the dispatcher's checks absorb any repeat.
//!
//! Every job of a delivery has its own generation (first send, each retry, each manual
//! retry), and the message id is `<delivery>-<generation>`.

use anyhow::Context;
use async_nats::jetstream::Context as JetStream;
use async_nats::jetstream::message::PublishMessage;
use herald_domain::WebhookId;
use herald_domain::job::DeliveryJob;
use sqlx::PgPool;
use uuid::Uuid;

use crate::jetstream::Topology;

/// A job and where it goes.
#[derive(Debug, Clone)]
pub struct OutboxJob {
    pub job: DeliveryJob,
    pub tenant: String,
    pub traceparent: Option<String>,
}

#[derive(Clone)]
pub struct Outbox {
    js: JetStream,
    topology: Topology,
    pool: PgPool,
}

impl Outbox {
    pub fn new(js: JetStream, topology: Topology, pool: PgPool) -> Self {
        Self { js, topology, pool }
    }

    pub fn jetstream(&self) -> &JetStream {
        &self.js
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Whether the NATS connection is up right now. While it is down, publishing would only
    /// wait: callers that can leave the jobs to the relay skip it.
    pub fn connected(&self) -> bool {
        crate::nats::is_connected(&self.js.client())
    }

    /// Publishes the jobs with pipelined acks and records which JetStream confirmed.
    /// Returns how many were confirmed.
    pub async fn publish(&self, jobs: &[OutboxJob]) -> anyhow::Result<usize> {
        let mut pending = Vec::with_capacity(jobs.len());
        for outbox in jobs {
            let webhook = WebhookId::from_uuid(outbox.job.webhook_id).to_string();
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
            // Logged on sending, before JetStream's ack: a dispatcher may take the job before
            // the ack is back, and the journey must read in order.
            tracing::info!(
                tenant = %outbox.tenant,
                event_id = %herald_domain::EventId::from_uuid(outbox.job.event_id),
                delivery_id = %herald_domain::DeliveryId::from_uuid(outbox.job.delivery_id),
                webhook_id = %webhook,
                generation = outbox.job.generation,
                trace_id = outbox.traceparent.as_deref().and_then(|t| t.split('-').nth(1)),
                "job enqueued"
            );
            pending.push((outbox, ack));
        }
        let acks = futures::future::join_all(
            pending
                .into_iter()
                .map(|(outbox, ack)| async move { ack.await.map(|_| outbox) }),
        )
        .await;
        let (mut ids, mut generations) = (Vec::new(), Vec::new());
        let mut failures = 0;
        for ack in acks {
            match ack {
                Ok(outbox) => {
                    let job = &outbox.job;
                    ids.push(job.delivery_id);
                    generations.push(job.generation);
                }
                Err(error) => {
                    failures += 1;
                    tracing::debug!(%error, "publish not confirmed");
                }
            }
        }
        if failures > 0 {
            tracing::warn!(
                failures,
                "delivery jobs not confirmed; the relay will publish them"
            );
        }
        self.mark_published(&ids, &generations).await?;
        Ok(ids.len())
    }

    /// Marks the jobs' deliveries published, where the generation is still the current one.
    async fn mark_published(&self, ids: &[Uuid], generations: &[i32]) -> anyhow::Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE deliveries d SET published_at = now()
             FROM unnest($1::uuid[], $2::int[]) AS j (id, generation)
             WHERE d.id = j.id AND d.generation = j.generation AND d.published_at IS NULL",
        )
        .bind(ids)
        .bind(generations)
        .execute(&self.pool)
        .await
        .context("marking deliveries published")?;
        Ok(())
    }
}
