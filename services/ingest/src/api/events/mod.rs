//! `/events`: a tenant emits an event; it is stored (immutable) together with one `pending`
//! delivery per matching webhook, atomically, before the answer. The checks are in `checks`,
//! the writes in `storing`.

use herald_domain::EventId;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use uuid::Uuid;

use super::ApiTags;
use super::deliveries::DeliveryOut;
use crate::answer::SerdeJson;
use crate::auth::TenantAuth;
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::pagination::PageQuery;
use crate::state::{AppState, EventLabels};
use crate::store;
use herald_runtime::trace_context::traceparent;

mod checks;
mod model;
mod payload_text;
mod storing;
mod test_event;

pub use model::*;
pub use test_event::TestEventsApi;

use checks::nul_character;
use storing::Stored;

pub struct EventsApi;

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
        SerdeJson<EventAccepted>,
        #[oai(header = "Idempotent-Replayed")] Option<bool>,
    ),
}

fn parse_event_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse::<EventId>()
        .map(|id| id.as_uuid())
        .map_err(|_| ApiError::not_found("event"))
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
        // The payload was kept as text: what a tree could not be made of is refused here.
        if let Err(error) = body.value.payload.check_readable() {
            return Err(ApiError::bad_request(
                "invalid_json",
                format!("malformed JSON in payload: {error}"),
            ));
        }
        // A NUL can only arrive escaped; the walk runs only when the escape is there.
        if body.raw.windows(6).any(|w| w == b"\\u0000")
            && let Some(path) = nul_character(&body.value.payload.to_value(), "payload")
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
            // Boxed: its transaction's future is about 9 KB, which every request's future
            // (copied whole at each move through the middleware) would otherwise carry.
            Some(key) => {
                match Box::pin(Self::store_once(
                    &state,
                    tenant,
                    &input,
                    &key,
                    trace.as_deref(),
                ))
                .await?
                {
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
        Ok(CreateEventResponse::Created(SerdeJson(answer), None))
    }

    /// List events
    ///
    /// The tenant's events, newest first, optionally only those of one type.
    #[oai(path = "/events", method = "get", operation_id = "listEvents")]
    async fn list(
        &self,
        auth: TenantAuth,
        state: poem::web::Data<&AppState>,
        /// Page size, 1 to 250 (default 50).
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Only events of this type.
        #[oai(name = "type")]
        event_type: Query<Option<String>>,
    ) -> ApiResult<Json<EventPage>> {
        let page = PageQuery::parse(limit.0, cursor.0.as_deref())?;
        let rows = store::events::list(
            &state.pool,
            auth.0.id.as_uuid(),
            event_type.0.as_deref(),
            page.cursor,
            page.limit,
        )
        .await?;
        let (rows, next_cursor) = page.finish(rows, |r| (r.created_at, r.id));
        Ok(Json(EventPage {
            items: rows.into_iter().map(EventOut::from).collect(),
            next_cursor,
        }))
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
