//! `POST /webhooks/{id}/test`: one event sent to one webhook, whatever its subscriptions,
//! through the normal path (stored, signed, retried, dead-lettered), so a tenant can check a
//! receiver and then read the receiver's answer from `GET /deliveries/{delivery_id}`.

use herald_domain::WebhookId;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::payload_text::PayloadText;
use super::storing::Audience;
use super::{EventIn, EventsApi};
use crate::api::ApiTags;
use crate::auth::TenantAuth;
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store;
use herald_runtime::trace_context::traceparent;

/// The type of a test event when the request names none; it needs no catalog entry.
pub const TEST_EVENT_TYPE: &str = "webhook.test";

pub struct TestEventsApi;

/// A test event; `{}` sends a `webhook.test` event with a short message.
#[derive(Debug, Default, Object, Deserialize)]
#[oai(example, rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct TestEventIn {
    /// A registered event type; default `webhook.test`.
    pub event_type: Option<String>,
    /// A JSON object that satisfies the type's schema. Default: the schema's first
    /// `examples` entry, else `{}`; for `webhook.test`, a short message.
    pub payload: Option<serde_json::Value>,
}

impl Example for TestEventIn {
    fn example() -> Self {
        Self {
            event_type: Some("order.created".into()),
            payload: Some(json!({"order_id": "ord_1001", "total_cents": 4200})),
        }
    }
}

#[derive(Debug, Object)]
#[oai(example, rename_all = "snake_case")]
pub struct TestEventSent {
    pub event_id: String,
    /// Poll `GET /deliveries/{delivery_id}` for the receiver's answer.
    pub delivery_id: String,
    pub event_type: String,
}

impl Example for TestEventSent {
    fn example() -> Self {
        Self {
            event_id: "evt_0193a1b2c3d47e8f9a0b1c2d3e4f5a6c".into(),
            delivery_id: "msg_0193a1b2c3d47e8f9a0b1c2d3e4f5a6d".into(),
            event_type: TEST_EVENT_TYPE.into(),
        }
    }
}

#[derive(ApiResponse)]
enum SendTestResponse {
    /// Stored and on its way; the delivery's attempts show the receiver's answer.
    #[oai(status = 202)]
    Sent(Json<TestEventSent>),
}

#[OpenApi(tag = "ApiTags::Webhooks")]
impl TestEventsApi {
    /// Send a test event
    ///
    /// Sends one event to this webhook only, subscribed to its type or not, through the
    /// normal delivery path: signed, retried on the schedule, dead-lettered if it fails for
    /// good. It counts against the tenant's rate like `POST /events`. A disabled webhook
    /// answers 409 `webhook_disabled`.
    #[oai(
        path = "/webhooks/:id/test",
        method = "post",
        operation_id = "sendTestEvent"
    )]
    async fn send(
        &self,
        auth: TenantAuth,
        state: poem::web::Data<&AppState>,
        id: Path<String>,
        body: JsonBody<TestEventIn>,
    ) -> ApiResult<SendTestResponse> {
        let tenant = auth.0.id.as_uuid();
        let webhook =
            id.0.parse::<WebhookId>()
                .map_err(|_| ApiError::not_found("webhook"))?
                .as_uuid();
        let found = store::webhooks::find(&state.pool, tenant, webhook)
            .await?
            .ok_or_else(|| ApiError::not_found("webhook"))?;
        if !found.enabled {
            return Err(ApiError::conflict(
                "webhook_disabled",
                "the webhook is disabled: enable it (PATCH enabled=true) before testing it",
            ));
        }
        let limits = EventsApi::quotas(&state, tenant).await?;
        if body.raw.len() as u64 > limits.max_payload_bytes {
            return Err(ApiError::payload_too_large(limits.max_payload_bytes));
        }
        EventsApi::check_quotas(&state, &auth.0, &limits).await?;
        state.backpressure.admit(&auth.0.name)?;
        let input = test_event(&state, tenant, body.value).await?;
        let trace = traceparent(&tracing::Span::current());
        let only = Audience::Only(webhook);
        let (answer, jobs) =
            EventsApi::store(&state, tenant, &input, None, "", trace.as_deref(), only)
                .await?
                .ok_or_else(|| anyhow::anyhow!("a test event without a key was not stored"))?;
        let delivery = answer
            .deliveries
            .first()
            .map(|d| d.id.clone())
            .ok_or_else(|| anyhow::anyhow!("a test event was stored without its delivery"))?;
        tracing::info!(tenant = %auth.0.name, event_id = %answer.id, "test event accepted");
        state.metrics.deliveries_created.inc();
        EventsApi::publish(&state, &auth.0.name, jobs, trace).await;
        Ok(SendTestResponse::Sent(Json(TestEventSent {
            event_id: answer.id,
            delivery_id: delivery,
            event_type: answer.event_type,
        })))
    }
}

/// The event to send: the default test event, or a registered type with a payload that
/// satisfies its schema (the request's, else the schema's first example, else `{}`).
async fn test_event(state: &AppState, tenant: Uuid, input: TestEventIn) -> ApiResult<EventIn> {
    let Some(event_type) = input.event_type else {
        let payload = input.payload.unwrap_or_else(
            || json!({"message": "A test event from Herald: this webhook is reachable."}),
        );
        if !payload.is_object() {
            return Err(ApiError::bad_request(
                "invalid_payload",
                "payload: must be a JSON object",
            ));
        }
        return Ok(EventIn {
            event_type: TEST_EVENT_TYPE.to_owned(),
            timestamp: None,
            payload: PayloadText::from_value(&payload),
        });
    };
    let payload = match input.payload {
        Some(payload) => payload,
        None => store::event_types::find_by_name(&state.pool, tenant, &event_type)
            .await?
            .and_then(|t| t.schema)
            .and_then(|schema| schema.get("examples")?.get(0).cloned())
            .unwrap_or_else(|| json!({})),
    };
    let input = EventIn {
        event_type,
        timestamp: None,
        payload: PayloadText::from_value(&payload),
    };
    EventsApi::check_type_and_payload(state, tenant, &input).await?;
    Ok(input)
}
