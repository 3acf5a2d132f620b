//! Storing an accepted event with its deliveries: in the next batch (group commit), or, with
//! an `Idempotency-Key`, in its own transaction that claims the key; then its jobs go to
//! JetStream.

use chrono::Utc;
use herald_domain::job::DeliveryJob;
use herald_domain::{DeliveryId, EventId, WebhookId};
use herald_runtime::group_commit::SubmitError;
use herald_runtime::outbox::OutboxJob;
use poem_openapi::types::{ParseFromJSON, ToJSON};
use serde_json::json;
use uuid::Uuid;

use super::{
    CreateEventResponse, DeliverySummary, EventAccepted, EventIn, EventsApi, PUBLISH_LIMIT,
};
use crate::answer::SerdeJson;
use crate::error::{ApiError, ApiResult};
use crate::fingerprint::fingerprint;
use crate::state::AppState;
use crate::store;
use crate::store::event_batch::PendingEvent;
use crate::store::events::NewEvent;

/// Which webhooks an event goes to.
#[derive(Debug, Clone, Copy)]
pub(super) enum Audience {
    /// Every enabled webhook subscribed to its type.
    Subscribed,
    /// This webhook alone, whatever its subscriptions (a test event).
    Only(Uuid),
}

/// What the idempotent path produced.
pub(super) enum Stored {
    New(EventAccepted, Vec<DeliveryJob>),
    Replay(CreateEventResponse),
}

/// The stored answer for a repeated key, or 422 if the key came with another request.
fn replay(stored: store::idempotency::StoredAnswer, hash: &str) -> ApiResult<CreateEventResponse> {
    if stored.request_hash != hash {
        return Err(ApiError::unprocessable(
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request in the last 24 hours",
        ));
    }
    let answer = EventAccepted::parse_from_json(Some(stored.response)).map_err(|e| {
        anyhow::anyhow!("stored idempotent answer unreadable: {}", e.into_message())
    })?;
    Ok(CreateEventResponse::Created(SerdeJson(answer), Some(true)))
}

impl EventsApi {
    /// Hands the jobs to JetStream; each publish is a child span of `trace`.
    pub(super) async fn publish(
        state: &AppState,
        tenant: &str,
        jobs: Vec<DeliveryJob>,
        trace: Option<String>,
    ) {
        let jobs: Vec<OutboxJob> = jobs
            .into_iter()
            .map(|job| OutboxJob {
                job,
                tenant: tenant.to_owned(),
                traceparent: trace.clone(),
            })
            .collect();
        state.publisher.publish_within(&jobs, PUBLISH_LIMIT).await;
    }

    /// Stores an event without an idempotency key in the next batch (see
    /// `store::event_batch`); 503 when the write queue is full.
    pub(super) async fn store_batched(
        state: &AppState,
        tenant: Uuid,
        input: &EventIn,
        size: usize,
        trace: Option<&str>,
    ) -> ApiResult<(EventAccepted, Vec<DeliveryJob>)> {
        let pending = PendingEvent {
            id: EventId::new().as_uuid(),
            tenant,
            event_type: input.event_type.clone(),
            payload: input.payload.raw().to_owned(),
            occurred_at: input.timestamp.unwrap_or_else(Utc::now),
            traceparent: trace.map(str::to_owned),
            size,
        };
        let (event, event_type, occurred_at) =
            (pending.id, pending.event_type.clone(), pending.occurred_at);
        let stored = match state.event_writer.write(pending).await {
            Ok(stored) => stored,
            Err(SubmitError::Full(_)) => return Err(state.backpressure.queue_full()),
            Err(SubmitError::Failed(error)) => return Err(anyhow::anyhow!(error).into()),
        };
        let jobs = stored
            .deliveries
            .iter()
            .map(|(delivery, webhook)| DeliveryJob {
                delivery_id: *delivery,
                event_id: event,
                webhook_id: *webhook,
                tenant_id: tenant,
                generation: 0,
            })
            .collect();
        let answer = EventAccepted {
            id: EventId::from_uuid(event).to_string(),
            event_type,
            timestamp: occurred_at,
            created_at: stored.created_at,
            deliveries: stored
                .deliveries
                .into_iter()
                .map(|(delivery, webhook)| DeliverySummary {
                    id: DeliveryId::from_uuid(delivery).to_string(),
                    webhook_id: WebhookId::from_uuid(webhook).to_string(),
                    status: "pending".to_owned(),
                })
                .collect(),
        };
        Ok((answer, jobs))
    }

    /// An event with an idempotency key: the stored answer when the key was used before,
    /// else the event stored in its own transaction with the key claimed.
    pub(super) async fn store_once(
        state: &AppState,
        tenant: Uuid,
        input: &EventIn,
        key: &str,
        trace: Option<&str>,
    ) -> ApiResult<Stored> {
        let hash = fingerprint(&json!({
            "type": input.event_type,
            "timestamp": input.timestamp,
            "payload": input.payload,
        }));
        let earlier = match store::idempotency::find(&state.pool, tenant, key).await? {
            Some(earlier) => earlier,
            None => match Self::store(
                state,
                tenant,
                input,
                Some(key),
                &hash,
                trace,
                Audience::Subscribed,
            )
            .await?
            {
                Some((answer, jobs)) => return Ok(Stored::New(answer, jobs)),
                // A concurrent request with the same key committed first.
                None => store::idempotency::find(&state.pool, tenant, key)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("idempotency key vanished after a conflict"))?,
            },
        };
        state.metrics.idempotent_replays.inc();
        replay(earlier, &hash).map(Stored::Replay)
    }

    /// Stores the event and its deliveries in one transaction. `None`: a concurrent request
    /// with the same idempotency key committed first; nothing was stored.
    pub(super) async fn store(
        state: &AppState,
        tenant: Uuid,
        input: &EventIn,
        key: Option<&str>,
        hash: &str,
        trace: Option<&str>,
        audience: Audience,
    ) -> anyhow::Result<Option<(EventAccepted, Vec<DeliveryJob>)>> {
        let mut tx = state.pool.begin().await?;
        let event = store::events::insert(
            &mut tx,
            NewEvent {
                id: EventId::new().as_uuid(),
                tenant,
                event_type: &input.event_type,
                payload: input.payload.raw(),
                occurred_at: input.timestamp.unwrap_or_else(Utc::now),
                idempotency_key: key,
                traceparent: trace,
            },
        )
        .await?;
        let webhooks = match audience {
            Audience::Subscribed => {
                store::webhooks::matching(&mut tx, tenant, &event.event_type).await?
            }
            Audience::Only(webhook) => vec![webhook],
        };
        let deliveries =
            store::deliveries::insert_pending(&mut tx, tenant, event.id, &webhooks).await?;
        let jobs = deliveries
            .iter()
            .map(|d| DeliveryJob {
                delivery_id: d.id,
                event_id: event.id,
                webhook_id: d.webhook_id,
                tenant_id: tenant,
                generation: 0,
            })
            .collect();
        let answer = EventAccepted {
            id: EventId::from_uuid(event.id).to_string(),
            event_type: event.event_type,
            timestamp: event.occurred_at,
            created_at: event.created_at,
            deliveries: deliveries
                .into_iter()
                .map(|d| DeliverySummary {
                    id: DeliveryId::from_uuid(d.id).to_string(),
                    webhook_id: WebhookId::from_uuid(d.webhook_id).to_string(),
                    status: d.status,
                })
                .collect(),
        };
        if let Some(key) = key {
            let response = answer.to_json().unwrap_or_default();
            if !store::idempotency::claim(&mut tx, tenant, key, hash, &response).await? {
                tx.rollback().await?;
                return Ok(None);
            }
        }
        tx.commit().await?;
        Ok(Some((answer, jobs)))
    }
}
