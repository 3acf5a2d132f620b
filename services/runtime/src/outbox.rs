//! The transactional outbox's sending half. A delivery row is committed first; its job is
//! then published here with pipelined acks, and `published_at` records JetStream's
//! confirmation. What is not confirmed (a process died, NATS was down) the relay publishes
//! once due; JetStream's duplicate window and the dispatcher's checks absorb any repeat.
//!
//! Every job of a delivery has its own generation (first send, each retry, each manual
//! retry), and the message id is `<delivery>-<generation>`.

use std::sync::Arc;

use anyhow::Context;
use async_nats::jetstream::Context as JetStream;
use async_nats::jetstream::message::PublishMessage;
use herald_domain::job::DeliveryJob;
use herald_domain::{DeliveryId, EventId, WebhookId};
use sqlx::PgPool;
use tracing::Instrument;
use tracing::field::Empty;
use uuid::Uuid;

use crate::jetstream::Topology;
use crate::publish_marks::PublishMarks;
use crate::trace_context::{continue_trace, traceparent};

/// A job and where it goes.
#[derive(Debug, Clone)]
pub struct OutboxJob {
    pub job: DeliveryJob,
    pub tenant: String,
    /// The span the publish belongs under (the emitting request, the retry decision).
    pub traceparent: Option<String>,
}

/// A producer span per job; the dispatcher's span for the job becomes its child.
fn publish_span(outbox: &OutboxJob, webhook: &str, subject: &str) -> tracing::Span {
    let span = tracing::info_span!(
        "publish",
        "otel.name" = "publish delivery job",
        "otel.kind" = "producer",
        "messaging.system" = "nats",
        "messaging.destination.name" = subject,
        tenant = %outbox.tenant,
        event_id = %EventId::from_uuid(outbox.job.event_id),
        delivery_id = %DeliveryId::from_uuid(outbox.job.delivery_id),
        webhook_id = webhook,
        generation = outbox.job.generation,
        "otel.status_code" = Empty,
        trace_id = Empty,
        span_id = Empty,
    );
    continue_trace(&span, outbox.traceparent.as_deref());
    span
}

#[derive(Clone)]
pub struct Outbox {
    js: JetStream,
    topology: Topology,
    pool: PgPool,
    /// Records JetStream's confirmations (`published_at`).
    marks: Arc<PublishMarks>,
}

impl Outbox {
    pub fn new(js: JetStream, topology: Topology, pool: PgPool) -> Self {
        Self {
            js,
            topology,
            marks: Arc::new(PublishMarks::new(pool.clone())),
            pool,
        }
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

    /// Publishes the jobs with pipelined acks and records which JetStream confirmed before
    /// returning. Returns how many were confirmed.
    pub async fn publish(&self, jobs: &[OutboxJob]) -> anyhow::Result<usize> {
        let confirmed = self.send(jobs).await?;
        self.marks.mark_now(&confirmed).await?;
        Ok(confirmed.len())
    }

    /// `publish` for jobs a dispatcher is about to take (a new event's, a retry's when due):
    /// the confirmations are recorded a moment later, and only for deliveries no dispatcher
    /// has claimed by then (a claim records the publish itself), so the usual delivery row
    /// is not rewritten just to say its job was sent.
    pub async fn publish_fresh(&self, jobs: &[OutboxJob]) -> anyhow::Result<usize> {
        let confirmed = self.send(jobs).await?;
        self.marks.mark_later(&confirmed);
        Ok(confirmed.len())
    }

    /// Sends the jobs with pipelined acks; `(delivery, generation)` of those JetStream
    /// confirmed.
    async fn send(&self, jobs: &[OutboxJob]) -> anyhow::Result<Vec<(Uuid, i32)>> {
        let mut pending = Vec::with_capacity(jobs.len());
        for outbox in jobs {
            let webhook = WebhookId::from_uuid(outbox.job.webhook_id).to_string();
            let subject = self.topology.job_subject(&outbox.tenant, &webhook);
            let span = publish_span(outbox, &webhook, &subject);
            let payload = serde_json::to_vec(&outbox.job).context("encoding a job")?;
            let mut message = PublishMessage::build()
                .payload(payload.into())
                .message_id(outbox.job.message_id());
            if let Some(traceparent) = traceparent(&span) {
                message = message.header("traceparent", traceparent.as_str());
            }
            let ack = self
                .js
                .send_publish(subject, message)
                .instrument(span.clone())
                .await
                .context("publishing a delivery job")?;
            // Logged on sending, before JetStream's ack: a dispatcher may take the job before
            // the ack is back, and the journey must read in order.
            span.in_scope(|| tracing::info!("job enqueued"));
            pending.push((outbox, ack, span));
        }
        // Each producer span lasts until JetStream's confirmation.
        let acks = futures::future::join_all(pending.into_iter().map(|(outbox, ack, span)| {
            async move {
                let confirmed = ack.await;
                if confirmed.is_err() {
                    tracing::Span::current().record("otel.status_code", "error");
                }
                confirmed.map(|_| outbox)
            }
            .instrument(span)
        }))
        .await;
        let mut confirmed = Vec::with_capacity(acks.len());
        let mut failures = 0;
        for ack in acks {
            match ack {
                Ok(outbox) => confirmed.push((outbox.job.delivery_id, outbox.job.generation)),
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
        Ok(confirmed)
    }
}
