//! Dead letters handed off by the dispatcher (permanent failures, exhausted retries, 410s,
//! disabled or deleted webhooks): each becomes one `dead_letter_queue` row.

use std::sync::Arc;

use async_nats::jetstream::message::Message;
use herald_domain::job::DeadLetter;
use herald_domain::{DeliveryId, EventId, WebhookId};
use herald_runtime::trace_context::continue_trace;
use sqlx::PgPool;
use tracing::Instrument;
use tracing::field::Empty;

use crate::metrics::{DlqMetrics, WriteLabels};
use crate::store;

pub struct Handoffs {
    pub pool: PgPool,
    pub metrics: Arc<DlqMetrics>,
}

impl Handoffs {
    pub async fn handle(&self, message: &Message) -> anyhow::Result<()> {
        let Ok(letter) = serde_json::from_slice::<DeadLetter>(&message.payload) else {
            tracing::error!(subject = %message.subject, "undecodable dead letter dropped");
            return Ok(());
        };
        let tenant = message.subject.rsplit('.').next().unwrap_or_default();
        let traceparent = message
            .headers
            .as_ref()
            .and_then(|h| h.get("traceparent"))
            .map(|v| v.as_str().to_owned());
        let span = tracing::info_span!(
            "dead_letter",
            "otel.name" = "store dead letter",
            "otel.kind" = "consumer",
            "messaging.system" = "nats",
            trace_id = Empty,
            span_id = Empty,
        );
        continue_trace(&span, traceparent.as_deref());
        write(&self.pool, &self.metrics, tenant, &letter)
            .instrument(span)
            .await
    }
}

/// Writes the row once; counts and logs only a first write.
pub async fn write(
    pool: &PgPool,
    metrics: &DlqMetrics,
    tenant: &str,
    letter: &DeadLetter,
) -> anyhow::Result<()> {
    if store::record(pool, letter).await? {
        let reason = letter.reason.as_str();
        metrics
            .writes
            .get_or_create(&WriteLabels {
                tenant: tenant.to_owned(),
                reason: reason.to_owned(),
            })
            .inc();
        tracing::warn!(
            tenant,
            reason,
            event_id = %EventId::from_uuid(letter.job.event_id),
            delivery_id = %DeliveryId::from_uuid(letter.job.delivery_id),
            webhook_id = %WebhookId::from_uuid(letter.job.webhook_id),
            attempts = letter.attempts,
            error = %letter.last_error,
            "dead letter written"
        );
    }
    Ok(())
}
