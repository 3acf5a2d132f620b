//! The body every receiver gets: `{"id", "type", "timestamp", "data"}`. Built once per
//! delivery and signed byte for byte.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::EventId;

#[derive(Serialize)]
struct Envelope<'a> {
    id: String,
    #[serde(rename = "type")]
    event_type: &'a str,
    timestamp: String,
    data: &'a serde_json::Value,
}

pub fn envelope_body(
    event: EventId,
    event_type: &str,
    occurred_at: DateTime<Utc>,
    payload: &serde_json::Value,
) -> Vec<u8> {
    let envelope = Envelope {
        id: event.to_string(),
        event_type,
        timestamp: occurred_at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        data: payload,
    };
    // A struct of strings and a JSON value always serializes.
    serde_json::to_vec(&envelope).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_has_the_contract_fields() {
        let id = EventId::new();
        let at = DateTime::parse_from_rfc3339("2026-11-29T10:15:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let body = envelope_body(id, "order.created", at, &serde_json::json!({ "n": 1 }));
        let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({
                "id": id.to_string(),
                "type": "order.created",
                "timestamp": "2026-11-29T10:15:00Z",
                "data": { "n": 1 },
            })
        );
    }
}
