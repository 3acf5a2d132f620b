//! The request and answer bodies of the events API, with their OpenAPI examples.

use chrono::{DateTime, Utc};
use herald_domain::EventId;
use poem_openapi::Object;
use poem_openapi::types::Example;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::payload_text::PayloadText;
use crate::answer::rfc3339;
use crate::api::deliveries::DeliveryOut;
use crate::store::events::EventRow;

#[derive(Debug, Object, Deserialize)]
#[oai(example, rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct EventIn {
    /// A type registered with `POST /event-types`.
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the event happened (RFC 3339); defaults to the time Herald accepts it.
    pub timestamp: Option<DateTime<Utc>>,
    /// A JSON object: the `data` receivers get.
    pub payload: PayloadText,
}

impl Example for EventIn {
    fn example() -> Self {
        Self {
            event_type: "order.created".into(),
            timestamp: DateTime::from_timestamp(1_790_000_000, 0),
            payload: PayloadText::from_value(
                &json!({ "order_id": "ord_1042", "amount": 4999, "currency": "EUR" }),
            ),
        }
    }
}

#[derive(Debug, Clone, Object, Serialize)]
#[oai(rename_all = "snake_case")]
pub struct DeliverySummary {
    pub id: String,
    pub webhook_id: String,
    pub status: String,
}

// Written with serde (`SerdeJson`) and described by poem-openapi: the two agree (test
// `the_serde_answer_is_the_openapi_one`).
/// The answer to `POST /events`; replayed as it was for a repeated `Idempotency-Key`.
#[derive(Debug, Clone, Object, Serialize)]
#[oai(example, rename_all = "snake_case")]
pub struct EventAccepted {
    pub id: String,
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(serialize_with = "rfc3339")]
    pub timestamp: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    /// One per matching webhook, each `pending`.
    pub deliveries: Vec<DeliverySummary>,
}

impl Example for EventAccepted {
    fn example() -> Self {
        let at = DateTime::from_timestamp(1_790_000_000, 0).unwrap_or_default();
        Self {
            id: "evt_0193a1b2c3d47e8f9a0b1c2d3e4f5a6c".into(),
            event_type: "order.created".into(),
            timestamp: at,
            created_at: at,
            deliveries: vec![DeliverySummary {
                id: "msg_0193a1b2c3d47e8f9a0b1c2d3e4f5a6d".into(),
                webhook_id: "wh_0193a1b2c3d47e8f9a0b1c2d3e4f5a6b".into(),
                status: "pending".into(),
            }],
        }
    }
}

#[derive(Debug, Object)]
#[oai(example, rename_all = "snake_case")]
pub struct EventOut {
    pub id: String,
    #[oai(rename = "type")]
    pub event_type: String,
    pub timestamp: DateTime<Utc>,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

impl Example for EventOut {
    fn example() -> Self {
        let at = DateTime::from_timestamp(1_790_000_000, 0).unwrap_or_default();
        Self {
            id: "evt_0193a1b2c3d47e8f9a0b1c2d3e4f5a6c".into(),
            event_type: "order.created".into(),
            timestamp: at,
            payload: EventIn::example().payload.to_value(),
            created_at: at,
        }
    }
}

impl From<EventRow> for EventOut {
    fn from(row: EventRow) -> Self {
        Self {
            id: EventId::from_uuid(row.id).to_string(),
            event_type: row.event_type,
            timestamp: row.occurred_at,
            payload: row.payload,
            created_at: row.created_at,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example, rename_all = "snake_case")]
pub struct EventPage {
    pub items: Vec<EventOut>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

impl Example for EventPage {
    fn example() -> Self {
        Self {
            items: vec![EventOut::example()],
            next_cursor: None,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example, rename_all = "snake_case")]
pub struct DeliveryList {
    pub items: Vec<DeliveryOut>,
}

impl Example for DeliveryList {
    fn example() -> Self {
        Self {
            items: vec![DeliveryOut {
                attempts: None,
                ..DeliveryOut::example()
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::types::ToJSON;

    use super::*;

    #[test]
    fn the_serde_answer_is_the_openapi_one() {
        let mut answer = EventAccepted::example();
        answer.created_at += chrono::Duration::microseconds(123_456);
        answer.deliveries.push(DeliverySummary {
            id: "msg_2".into(),
            webhook_id: "wh_\"quoted\"".into(),
            status: "pending".into(),
        });
        let serde = serde_json::to_value(&answer).unwrap();
        assert_eq!(Some(serde.clone()), answer.to_json());
        assert_eq!(serde["created_at"], "2026-09-21T14:13:20.123456+00:00");
    }
}
