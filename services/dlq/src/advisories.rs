//! The safety net: when JetStream gives up on a job (MAX_DELIVERIES: its dispatcher crashed
//! or timed out on it every time) or a job was terminated, the advisory is captured in the
//! advisories stream. Here the original job (or bundle of jobs) is fetched by its stream
//! sequence, each delivery failed and dead-lettered (unless it was delivered meanwhile), and
//! the message deleted from the WorkQueue stream, where it would otherwise stay for ever.

use std::sync::Arc;

use async_nats::jetstream::Context as JetStream;
use async_nats::jetstream::message::Message;
use herald_domain::job::JobMessage;
use herald_runtime::jetstream::Topology;
use serde::Deserialize;
use sqlx::PgPool;

use crate::handoffs::write;
use crate::metrics::DlqMetrics;
use crate::store;

/// The fields Herald reads from both advisory kinds.
#[derive(Debug, Deserialize)]
struct Advisory {
    consumer: String,
    stream_seq: u64,
    #[serde(default)]
    deliveries: i64,
}

pub struct Advisories {
    pub pool: PgPool,
    pub js: JetStream,
    pub topology: Topology,
    pub metrics: Arc<DlqMetrics>,
}

impl Advisories {
    pub async fn handle(&self, message: &Message) -> anyhow::Result<()> {
        let Ok(advisory) = serde_json::from_slice::<Advisory>(&message.payload) else {
            tracing::error!(subject = %message.subject, "undecodable advisory dropped");
            return Ok(());
        };
        let stream = self
            .js
            .get_stream(self.topology.deliveries_stream())
            .await?;
        let raw = match stream.get_raw_message(advisory.stream_seq).await {
            Ok(raw) => raw,
            Err(error) => {
                // Terminated jobs are gone at once from a WorkQueue stream, and a job handled
                // before may have been deleted already: nothing left to do.
                tracing::info!(seq = advisory.stream_seq, %error, "advised job no longer stored");
                return Ok(());
            }
        };
        match serde_json::from_slice::<JobMessage>(&raw.payload) {
            Ok(carried) => {
                let tenant = Topology::tenant_of_consumer(&advisory.consumer).unwrap_or_default();
                // Each job of a bundle is failed on its own: those delivered or moved on
                // meanwhile are left as they are.
                for job in carried.jobs() {
                    if let Some(letter) =
                        store::fail_abandoned(&self.pool, &job, advisory.deliveries).await?
                    {
                        write(&self.pool, &self.metrics, tenant, &letter).await?;
                    }
                }
            }
            Err(error) => {
                tracing::error!(seq = advisory.stream_seq, %error, "undecodable job dropped")
            }
        }
        if let Err(error) = stream.delete_message(advisory.stream_seq).await {
            tracing::info!(seq = advisory.stream_seq, %error, "advised job already deleted");
        }
        Ok(())
    }
}
