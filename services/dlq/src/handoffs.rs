//! Dead letters handed off by the dispatcher (permanent failures, exhausted retries, 410s,
//! disabled or deleted webhooks): each becomes one `dead_letter_queue` row.

use std::sync::Arc;

use async_nats::jetstream::message::Message;
use herald_domain::job::DeadLetter;
use herald_domain::{DeliveryId, EventId, WebhookId};
use sqlx::PgPool;

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
        write(&self.pool, &self.metrics, tenant, &letter).await
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
