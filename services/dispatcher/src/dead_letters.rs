//! The hand-off to the DLQ service: a message on the dead-letters stream, stored once per
//! delivery and generation however often it is sent.

use anyhow::Context;
use async_nats::jetstream::Context as JetStream;
use async_nats::jetstream::message::PublishMessage;
use herald_domain::job::DeadLetter;
use herald_runtime::jetstream::Topology;
use herald_runtime::trace_context::traceparent;

#[derive(Clone)]
pub struct DeadLetters {
    js: JetStream,
    topology: Topology,
}

impl DeadLetters {
    pub fn new(js: JetStream, topology: Topology) -> Self {
        Self { js, topology }
    }

    /// Publishes and waits for JetStream to confirm, so the job is acked only after.
    pub async fn hand_off(&self, tenant: &str, letter: &DeadLetter) -> anyhow::Result<()> {
        let payload = serde_json::to_vec(letter).context("encoding a dead letter")?;
        let mut message = PublishMessage::build()
            .payload(payload.into())
            .message_id(letter.message_id());
        // The DLQ service's span for the letter joins the delivery's trace.
        if let Some(traceparent) = traceparent(&tracing::Span::current()) {
            message = message.header("traceparent", traceparent.as_str());
        }
        // Logged first: the DLQ service may write the letter before the ack is back.
        tracing::warn!(
            delivery_id = %herald_domain::DeliveryId::from_uuid(letter.job.delivery_id),
            tenant,
            reason = letter.reason.as_str(),
            error = %letter.last_error,
            "delivery dead-lettered"
        );
        self.js
            .send_publish(self.topology.dead_letter_subject(tenant), message)
            .await
            .context("publishing a dead letter")?
            .await
            .context("waiting for the dead letter to be stored")?;
        Ok(())
    }
}
