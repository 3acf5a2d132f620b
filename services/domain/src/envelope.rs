//! The body every receiver gets: `{"id", "type", "timestamp", "data"}`. Built once per
//! delivery and signed byte for byte. `data` is the stored payload's text as PostgreSQL
//! gives it back, copied in as it is: never parsed into a tree and written out again.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::EventId;

#[derive(Serialize)]
struct Envelope<'a> {
    id: String,
    #[serde(rename = "type")]
    event_type: &'a str,
    timestamp: String,
    data: &'a RawValue,
}

pub fn envelope_body(
    event: EventId,
    event_type: &str,
    occurred_at: DateTime<Utc>,
    payload: &RawValue,
) -> Vec<u8> {
    let envelope = Envelope {
        id: event.to_string(),
        event_type,
        timestamp: occurred_at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        data: payload,
    };
    // A struct of strings and a JSON text always serializes.
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
        let stored = RawValue::from_string(r#"{"n": 1, "s": "\u00e9"}"#.to_owned()).unwrap();
        let body = envelope_body(id, "order.created", at, &stored);
        let text = String::from_utf8(body.clone()).unwrap();
        assert!(
            text.ends_with(r#","data":{"n": 1, "s": "\u00e9"}}"#),
            "{text}"
        );
        let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({
                "id": id.to_string(),
                "type": "order.created",
                "timestamp": "2026-11-29T10:15:00Z",
                "data": { "n": 1, "s": "é" },
            })
        );
    }
}
