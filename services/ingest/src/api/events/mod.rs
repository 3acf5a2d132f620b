//! `/events`: a tenant emits an event; it is stored (immutable) together with one `pending`
//! delivery per matching webhook in one transaction, before the answer.

use std::sync::Arc;

use chrono::Utc;
use herald_domain::job::DeliveryJob;
use herald_domain::{DeliveryId, EventId, EventTypeName, WebhookId};
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::types::{ParseFromJSON, ToJSON};
use poem_openapi::{ApiResponse, OpenApi};
use serde_json::json;
use uuid::Uuid;

use super::ApiTags;
use super::deliveries::DeliveryOut;
use crate::auth::{Tenant, TenantAuth};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::fingerprint::fingerprint;
use crate::lookups::KnownType;
use crate::rate_limit::Admission;
use crate::state::{AppState, EventLabels};
use crate::store;
use crate::store::event_batch::PendingEvent;
use crate::store::events::NewEvent;
use herald_domain::QuotaLimits;
use herald_runtime::group_commit::SubmitError;
use herald_runtime::outbox::OutboxJob;
use herald_runtime::trace_context::traceparent;

mod model;

pub use model::*;

pub struct EventsApi;

/// What the idempotent path produced.
enum Stored {
    New(EventAccepted, Vec<DeliveryJob>),
    Replay(CreateEventResponse),
}

const MAX_IDEMPOTENCY_KEY: usize = 255;
const MAX_SCHEMA_ERRORS: usize = 10;
/// How long an answer may wait for JetStream; past it the relay takes over.
const PUBLISH_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);
/// What a client refused for a full DLQ is told to wait: the DLQ drains only by hand.
const DLQ_FULL_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(60);
#[derive(ApiResponse)]
enum CreateEventResponse {
    /// Stored, with its deliveries. `Idempotent-Replayed: true` marks a replayed answer.
    #[oai(status = 201)]
    Created(
        Json<EventAccepted>,
        #[oai(header = "Idempotent-Replayed")] Option<bool>,
    ),
}

fn parse_event_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse::<EventId>()
        .map(|id| id.as_uuid())
        .map_err(|_| ApiError::not_found("event"))
}

/// Where in `value` a string (or an object key) holds a NUL character, which PostgreSQL's
/// `jsonb` cannot store.
fn nul_character(value: &serde_json::Value, path: &str) -> Option<String> {
    match value {
        serde_json::Value::String(text) => text.contains('\0').then(|| path.to_owned()),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_character(item, &format!("{path}[{i}]"))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(name, field)| {
            let at = format!("{path}.{name}");
            if name.contains('\0') {
                return Some(at);
            }
            nul_character(field, &at)
        }),
        _ => None,
    }
}

fn check_idempotency_key(key: String) -> Result<String, ApiError> {
    let printable = key.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY || !printable {
        return Err(ApiError::bad_request(
            "invalid_idempotency_key",
            format!("Idempotency-Key: 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters"),
        ));
    }
    Ok(key)
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
    Ok(CreateEventResponse::Created(Json(answer), Some(true)))
}

impl EventsApi {
    /// Refuses types outside the catalog and payloads that break the type's schema.
    async fn check_type_and_payload(
        state: &AppState,
        tenant: Uuid,
        input: &EventIn,
    ) -> Result<(), ApiError> {
        if !input.payload.is_object() {
            return Err(ApiError::bad_request(
                "invalid_payload",
                "payload: must be a JSON object",
            ));
        }
        let event_type = Self::known_type(state, tenant, &input.event_type).await?;
        let Some(validator) = &event_type.validator else {
            return Ok(());
        };
        let errors: Vec<String> = validator
            .iter_errors(&input.payload)
            .take(MAX_SCHEMA_ERRORS)
            .map(|e| format!("payload{}: {e}", e.instance_path()))
            .collect();
        if errors.is_empty() {
            return Ok(());
        }
        Err(ApiError::unprocessable(
            "schema_validation_failed",
            errors.join("; "),
        ))
    }

    /// The registered type named `name`, with its schema compiled (cached: types never
    /// change once registered); 422 listing the allowed ones when there is none.
    async fn known_type(
        state: &AppState,
        tenant: Uuid,
        name: &str,
    ) -> Result<Arc<KnownType>, ApiError> {
        if let Some(known) = state.lookups.event_types.get(tenant, name) {
            return Ok(known);
        }
        let found = match EventTypeName::parse(name) {
            Ok(name) => {
                store::event_types::find_by_name(&state.pool, tenant, name.as_str()).await?
            }
            Err(_) => None,
        };
        let Some(event_type) = found else {
            let allowed = store::event_types::names(&state.pool, tenant, 50).await?;
            let allowed = if allowed.is_empty() {
                "none yet: register types with POST /event-types".to_owned()
            } else {
                allowed.join(", ")
            };
            return Err(ApiError::unprocessable(
                "unknown_event_type",
                format!("type: {name:?} is not registered; allowed: {allowed}"),
            ));
        };
        let validator = event_type
            .schema
            .as_ref()
            .map(jsonschema::validator_for)
            .transpose()
            .map_err(|e| {
                anyhow::anyhow!("stored schema of {} does not compile: {e}", event_type.name)
            })?;
        let known = Arc::new(KnownType {
            name: event_type.name,
            validator,
        });
        state.lookups.event_types.put(tenant, known.clone());
        Ok(known)
    }

    /// The tenant's quotas, read at most once a second per replica (see `lookups`).
    async fn quotas(state: &AppState, tenant: Uuid) -> anyhow::Result<QuotaLimits> {
        if let Some(limits) = state.lookups.quotas.get(&tenant) {
            return Ok(limits);
        }
        let limits = store::quotas::get(&state.pool, tenant).await?;
        state.lookups.quotas.put(tenant, limits);
        Ok(limits)
    }

    /// The rate and DLQ-size quotas, in that order: every request counts against the rate.
    async fn check_quotas(
        state: &AppState,
        tenant: &Tenant,
        limits: &QuotaLimits,
    ) -> Result<(), ApiError> {
        let id = tenant.id.as_uuid();
        if let Admission::Refused { retry_after } = state.rate_limiter.admit(id, limits).await? {
            state.metrics.rejected(&tenant.name, "events_per_second");
            return Err(ApiError::too_many(
                "rate_limited",
                format!(
                    "over the events_per_second quota: {} per second, bursts of {}",
                    limits.events_per_second, limits.burst
                ),
                retry_after,
            ));
        }
        if state.dlq_gate.is_full(id, limits.max_dlq_size).await? {
            state.metrics.rejected(&tenant.name, "max_dlq_size");
            return Err(ApiError::too_many(
                "dlq_quota_exceeded",
                format!(
                    "the DLQ holds {} dead letters, the max_dlq_size quota: retry or discard \
                     some before sending more events",
                    limits.max_dlq_size
                ),
                DLQ_FULL_RETRY_AFTER,
            ));
        }
        Ok(())
    }

    /// Hands the jobs to JetStream; each publish is a child span of `trace`.
    async fn publish(
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
    async fn store_batched(
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
            payload: input.payload.clone(),
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
    async fn store_once(
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
            None => match Self::store(state, tenant, input, Some(key), &hash, trace).await? {
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

    /// Stores the event and its deliveries. `None`: a concurrent request with the same
    /// idempotency key committed first; nothing was stored.
    async fn store(
        state: &AppState,
        tenant: Uuid,
        input: &EventIn,
        key: Option<&str>,
        hash: &str,
        trace: Option<&str>,
    ) -> anyhow::Result<Option<(EventAccepted, Vec<DeliveryJob>)>> {
        let mut tx = state.pool.begin().await?;
        let event = store::events::insert(
            &mut tx,
            NewEvent {
                id: EventId::new().as_uuid(),
                tenant,
                event_type: &input.event_type,
                payload: &input.payload,
                occurred_at: input.timestamp.unwrap_or_else(Utc::now),
                idempotency_key: key,
                traceparent: trace,
            },
        )
        .await?;
        let webhooks = store::webhooks::matching(&mut tx, tenant, &event.event_type).await?;
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

#[OpenApi(tag = "ApiTags::Events")]
impl EventsApi {
    /// Emit an event
    ///
    /// Stores the event and one `pending` delivery per matching enabled webhook before
    /// answering. The type must be registered (422 lists the allowed ones) and the payload
    /// must satisfy the type's schema (422). The body may not exceed the tenant's
    /// `max_payload_bytes` (413). Every request counts against the tenant's rate: over
    /// `events_per_second` (with `burst`) it answers 429 `rate_limited` with `Retry-After`;
    /// while the tenant's DLQ holds `max_dlq_size` open dead letters, 429
    /// `dlq_quota_exceeded`. With an `Idempotency-Key`, a repeat within 24 hours returns the
    /// first answer; the same key with a different request answers 422. When Herald is
    /// behind (its write queue, its outbox or the tenant's delivery backlog is full) it stores
    /// nothing and answers 503 `write_queue_full` or `backlog_full` with `Retry-After`.
    #[oai(path = "/events", method = "post", operation_id = "createEvent")]
    async fn create(
        &self,
        auth: TenantAuth,
        state: poem::web::Data<&AppState>,
        /// Makes retries safe: repeats within 24 hours return the first answer.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<String>>,
        /// W3C trace context; deliveries of this event join the caller's trace.
        #[oai(name = "traceparent")]
        _traceparent: Header<Option<String>>,
        body: JsonBody<EventIn>,
    ) -> ApiResult<CreateEventResponse> {
        let tenant = auth.0.id.as_uuid();
        let limits = Self::quotas(&state, tenant).await?;
        if body.raw.len() as u64 > limits.max_payload_bytes {
            state.metrics.rejected(&auth.0.name, "max_payload_bytes");
            return Err(ApiError::payload_too_large(limits.max_payload_bytes));
        }
        Self::check_quotas(&state, &auth.0, &limits).await?;
        state.backpressure.admit(&auth.0.name)?;
        let key = idempotency_key.0.map(check_idempotency_key).transpose()?;
        // A NUL can only arrive escaped; the walk runs only when the escape is there.
        if body.raw.windows(6).any(|w| w == b"\\u0000")
            && let Some(path) = nul_character(&body.value.payload, "payload")
        {
            return Err(ApiError::bad_request(
                "invalid_payload",
                format!("{path}: strings may not contain the NUL character (\\u0000)"),
            ));
        }
        let size = body.raw.len();
        let input = body.value;
        Self::check_type_and_payload(&state, tenant, &input).await?;
        // The request's span continues the caller's trace (see `http_trace`).
        let trace = traceparent(&tracing::Span::current());
        let (answer, jobs) = match key {
            None => Self::store_batched(&state, tenant, &input, size, trace.as_deref()).await?,
            Some(key) => {
                match Self::store_once(&state, tenant, &input, &key, trace.as_deref()).await? {
                    Stored::New(answer, jobs) => (answer, jobs),
                    Stored::Replay(response) => return Ok(response),
                }
            }
        };
        let labels = EventLabels {
            tenant: auth.0.name.clone(),
            event_type: answer.event_type.clone(),
        };
        state.metrics.events_accepted.get_or_create(&labels).inc();
        tracing::info!(
            tenant = %auth.0.name,
            event_id = %answer.id,
            event_type = %answer.event_type,
            deliveries = answer.deliveries.len(),
            "event accepted"
        );
        let created = answer.deliveries.len() as u64;
        state.metrics.deliveries_created.inc_by(created);
        Self::publish(&state, &auth.0.name, jobs, trace).await;
        Ok(CreateEventResponse::Created(Json(answer), None))
    }

    /// Get an event
    #[oai(path = "/events/:id", method = "get", operation_id = "getEvent")]
    async fn get(
        &self,
        auth: TenantAuth,
        state: poem::web::Data<&AppState>,
        id: Path<String>,
    ) -> ApiResult<Json<EventOut>> {
        let row = store::events::find(&state.pool, auth.0.id.as_uuid(), parse_event_id(&id.0)?)
            .await?
            .ok_or_else(|| ApiError::not_found("event"))?;
        Ok(Json(row.into()))
    }

    /// List an event's deliveries
    ///
    /// One per webhook the event matched when it was accepted.
    #[oai(
        path = "/events/:id/deliveries",
        method = "get",
        operation_id = "listEventDeliveries"
    )]
    async fn deliveries(
        &self,
        auth: TenantAuth,
        state: poem::web::Data<&AppState>,
        id: Path<String>,
    ) -> ApiResult<Json<DeliveryList>> {
        let tenant = auth.0.id.as_uuid();
        let event = parse_event_id(&id.0)?;
        if store::events::find(&state.pool, tenant, event)
            .await?
            .is_none()
        {
            return Err(ApiError::not_found("event"));
        }
        let rows = store::deliveries::of_event(&state.pool, tenant, event).await?;
        Ok(Json(DeliveryList {
            items: rows.into_iter().map(DeliveryOut::from).collect(),
        }))
    }
}
