//! `GET /deliveries/{id}`: one event's journey to one webhook, attempt by attempt.

use chrono::{DateTime, Utc};
use herald_domain::{DeliveryId, EventId, WebhookId};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{Object, OpenApi};

use super::ApiTags;
use crate::auth::TenantAuth;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store;
use crate::store::deliveries::{AttemptRow, DeliveryRow};

pub struct DeliveriesApi;

#[derive(Debug, Object)]
#[oai(rename_all = "snake_case")]
pub struct AttemptOut {
    /// 1 for the first attempt.
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i32,
    /// The receiver's HTTP status; absent when no response came (timeout, refused...).
    #[oai(nullable)]
    pub status_code: Option<i32>,
    #[oai(nullable)]
    pub error: Option<String>,
    /// The first KiB of the receiver's response body.
    #[oai(nullable)]
    pub response_body: Option<String>,
}

impl From<AttemptRow> for AttemptOut {
    fn from(row: AttemptRow) -> Self {
        Self {
            attempt: row.attempt,
            started_at: row.started_at,
            duration_ms: row.duration_ms,
            status_code: row.status_code,
            error: row.error,
            response_body: row.response_body,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example, rename_all = "snake_case")]
pub struct DeliveryOut {
    /// Receivers see this as `webhook-id` on every attempt and dedupe on it.
    pub id: String,
    pub event_id: String,
    pub webhook_id: String,
    /// `pending`, `processing`, `success` or `failed`.
    pub status: String,
    /// How many attempts were made.
    pub attempt_count: i32,
    #[oai(nullable)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub last_status_code: Option<i32>,
    #[oai(nullable)]
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[oai(nullable)]
    pub completed_at: Option<DateTime<Utc>>,
    /// Every attempt, first to last. Left out of lists.
    #[oai(skip_serializing_if_is_none)]
    pub attempts: Option<Vec<AttemptOut>>,
}

impl Example for DeliveryOut {
    fn example() -> Self {
        let at = DateTime::from_timestamp(1_790_000_000, 0).unwrap_or_default();
        Self {
            id: "msg_0193a1b2c3d47e8f9a0b1c2d3e4f5a6d".into(),
            event_id: "evt_0193a1b2c3d47e8f9a0b1c2d3e4f5a6c".into(),
            webhook_id: "wh_0193a1b2c3d47e8f9a0b1c2d3e4f5a6b".into(),
            status: "success".into(),
            attempt_count: 1,
            next_attempt_at: None,
            last_status_code: Some(200),
            last_error: None,
            created_at: at,
            updated_at: at,
            completed_at: Some(at),
            attempts: Some(vec![AttemptOut {
                attempt: 1,
                started_at: at,
                duration_ms: 42,
                status_code: Some(200),
                error: None,
                response_body: Some("ok".into()),
            }]),
        }
    }
}

impl From<DeliveryRow> for DeliveryOut {
    fn from(row: DeliveryRow) -> Self {
        Self {
            id: DeliveryId::from_uuid(row.id).to_string(),
            event_id: EventId::from_uuid(row.event_id).to_string(),
            webhook_id: WebhookId::from_uuid(row.webhook_id).to_string(),
            status: row.status,
            attempt_count: row.attempts,
            next_attempt_at: row.next_attempt_at,
            last_status_code: row.last_status_code,
            last_error: row.last_error,
            created_at: row.created_at,
            updated_at: row.updated_at,
            completed_at: row.completed_at,
            attempts: None,
        }
    }
}

#[OpenApi(tag = "ApiTags::Events")]
impl DeliveriesApi {
    /// Get a delivery
    ///
    /// Its status and every attempt with the receiver's status code, latency and error.
    #[oai(path = "/deliveries/:id", method = "get", operation_id = "getDelivery")]
    async fn get(
        &self,
        auth: TenantAuth,
        state: poem::web::Data<&AppState>,
        id: Path<String>,
    ) -> ApiResult<Json<DeliveryOut>> {
        let id =
            id.0.parse::<DeliveryId>()
                .map_err(|_| ApiError::not_found("delivery"))?;
        let row = store::deliveries::find(&state.pool, auth.0.id.as_uuid(), id.as_uuid())
            .await?
            .ok_or_else(|| ApiError::not_found("delivery"))?;
        let attempts = store::deliveries::attempts(&state.pool, row.id).await?;
        let mut out = DeliveryOut::from(row);
        out.attempts = Some(attempts.into_iter().map(AttemptOut::from).collect());
        Ok(Json(out))
    }
}
