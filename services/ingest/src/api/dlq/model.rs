//! The request and answer bodies of the dlq API, with their OpenAPI examples.

use chrono::{DateTime, Utc};
use herald_domain::{DeliveryId, EventId, WebhookId};
use poem_openapi::Object;
use poem_openapi::types::Example;
use serde::Deserialize;
use serde_json::json;

use crate::store::dead_letters::DeadLetterRow;

#[derive(Debug, Object)]
#[oai(rename_all = "snake_case")]
pub struct DeadEvent {
    pub id: String,
    #[oai(rename = "type")]
    pub event_type: String,
    pub timestamp: DateTime<Utc>,
    pub payload: serde_json::Value,
}

#[derive(Debug, Object)]
#[oai(example, rename_all = "snake_case")]
pub struct DeadLetterOut {
    pub delivery_id: String,
    pub webhook_id: String,
    pub event: DeadEvent,
    /// `permanent`, `exhausted`, `gone`, `webhook_disabled`, `webhook_deleted` or
    /// `redelivery_limit`; see docs/failures.md.
    pub reason: String,
    pub last_error: String,
    #[oai(nullable)]
    pub last_status_code: Option<i32>,
    pub attempts: i32,
    pub failed_at: DateTime<Utc>,
}

impl Example for DeadLetterOut {
    fn example() -> Self {
        let at = DateTime::from_timestamp(1_790_000_000, 0).unwrap_or_default();
        Self {
            delivery_id: "msg_0193a1b2c3d47e8f9a0b1c2d3e4f5a6d".into(),
            webhook_id: "wh_0193a1b2c3d47e8f9a0b1c2d3e4f5a6b".into(),
            event: DeadEvent {
                id: "evt_0193a1b2c3d47e8f9a0b1c2d3e4f5a6c".into(),
                event_type: "order.created".into(),
                timestamp: at,
                payload: json!({ "order_id": "ord_1042" }),
            },
            reason: "exhausted".into(),
            last_error: "receiver answered HTTP 503".into(),
            last_status_code: Some(503),
            attempts: 6,
            failed_at: at,
        }
    }
}

impl From<DeadLetterRow> for DeadLetterOut {
    fn from(row: DeadLetterRow) -> Self {
        Self {
            delivery_id: DeliveryId::from_uuid(row.delivery_id).to_string(),
            webhook_id: WebhookId::from_uuid(row.webhook_id).to_string(),
            event: DeadEvent {
                id: EventId::from_uuid(row.event_id).to_string(),
                event_type: row.event_type,
                timestamp: row.occurred_at,
                payload: row.payload,
            },
            reason: row.reason,
            last_error: row.last_error,
            last_status_code: row.last_status_code,
            attempts: row.attempts,
            failed_at: row.failed_at,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example, rename_all = "snake_case")]
pub struct DeadLetterPage {
    pub items: Vec<DeadLetterOut>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

impl Example for DeadLetterPage {
    fn example() -> Self {
        Self {
            items: vec![DeadLetterOut::example()],
            next_cursor: None,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example, rename_all = "snake_case")]
pub struct RetryAccepted {
    pub delivery_id: String,
    /// `pending`: a new job is on its way to the dispatcher.
    pub status: String,
}

impl Example for RetryAccepted {
    fn example() -> Self {
        Self {
            delivery_id: "msg_0193a1b2c3d47e8f9a0b1c2d3e4f5a6d".into(),
            status: "pending".into(),
        }
    }
}

/// Which open dead letters to retry; all of them when empty.
#[derive(Debug, Default, Object, Deserialize)]
#[oai(example, rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct BulkRetryIn {
    pub webhook_id: Option<String>,
    /// Dead-lettered at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Dead-lettered before this time.
    pub until: Option<DateTime<Utc>>,
    /// How many deliveries start per second, so a recovering receiver is not flooded
    /// (1 to 1000, default 10).
    pub per_second: Option<u32>,
}

impl Example for BulkRetryIn {
    fn example() -> Self {
        Self {
            webhook_id: Some("wh_0193a1b2c3d47e8f9a0b1c2d3e4f5a6b".into()),
            since: DateTime::from_timestamp(1_790_000_000, 0),
            per_second: Some(20),
            ..Self::default()
        }
    }
}

#[derive(Debug, Object)]
#[oai(example, rename_all = "snake_case")]
pub struct BulkRetryAccepted {
    /// How many deliveries were put back on the way.
    pub retried: u64,
    /// When the last of them starts, at the requested rate.
    pub spread_seconds: f64,
}

impl Example for BulkRetryAccepted {
    fn example() -> Self {
        Self {
            retried: 120,
            spread_seconds: 6.0,
        }
    }
}
