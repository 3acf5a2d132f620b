//! The request a receiver gets: the envelope as body and the contract's headers, signed with
//! every active secret.

use chrono::{DateTime, Utc};
use herald_domain::signing::{hex_signature, standard_signature_header};
use herald_domain::{DeliveryId, WebhookSecret};
use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use crate::store::StoredSecret;

/// The secrets that sign now: unexpired ones, newest first.
pub fn active_secrets(stored: &[StoredSecret], now: DateTime<Utc>) -> Vec<WebhookSecret> {
    stored
        .iter()
        .filter(|s| s.expires_at.is_none_or(|at| at > now))
        .filter_map(|s| WebhookSecret::parse(&s.secret).ok())
        .collect()
}

pub struct Signed<'a> {
    pub delivery: DeliveryId,
    pub event_type: &'a str,
    pub attempt: i32,
    pub timestamp: i64,
    pub secrets: &'a [WebhookSecret],
    pub body: &'a [u8],
    /// The W3C trace context of the attempt's client span.
    pub traceparent: String,
}

pub fn headers(signed: &Signed<'_>) -> HeaderMap {
    let id = signed.delivery.to_string();
    let timestamp = signed.timestamp.to_string();
    // Room for every header below and the sender's user agent, so the map never grows.
    let mut headers = HeaderMap::with_capacity(11);
    let mut set = |name: &'static str, value: String| {
        // Every value here is ASCII we built; one that is not is left out, never a panic.
        // From the `String` itself, which the value keeps without a copy.
        if let Ok(value) = HeaderValue::try_from(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    set("x-webhook-id", id.clone());
    set("webhook-id", id.clone());
    set("x-webhook-timestamp", timestamp.clone());
    set("webhook-timestamp", timestamp);
    set("x-webhook-event-type", signed.event_type.to_owned());
    set("x-webhook-attempt", signed.attempt.to_string());
    set("traceparent", signed.traceparent.clone());
    if let Some(newest) = signed.secrets.first() {
        set(
            "x-webhook-signature",
            hex_signature(newest.key(), signed.timestamp, signed.body),
        );
        set(
            "webhook-signature",
            standard_signature_header(signed.secrets, &id, signed.timestamp, signed.body),
        );
    }
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carries_every_contract_header() {
        let secret = WebhookSecret::generate();
        let headers = headers(&Signed {
            delivery: DeliveryId::new(),
            event_type: "order.created",
            attempt: 2,
            timestamp: 1_790_000_000,
            secrets: std::slice::from_ref(&secret),
            body: b"{}",
            traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
        });
        for name in [
            "x-webhook-id",
            "webhook-id",
            "x-webhook-timestamp",
            "webhook-timestamp",
            "x-webhook-signature",
            "webhook-signature",
            "x-webhook-event-type",
            "x-webhook-attempt",
            "traceparent",
            "content-type",
        ] {
            assert!(headers.contains_key(name), "{name} missing");
        }
        assert_eq!(headers["x-webhook-attempt"], "2");
        assert_eq!(headers["webhook-id"], headers["x-webhook-id"]);
    }

    #[test]
    fn expired_secrets_stop_signing() {
        let now = Utc::now();
        let stored = |secret: &WebhookSecret, expires_at| StoredSecret {
            secret: secret.expose(),
            expires_at,
        };
        let (new, old, gone) = (
            WebhookSecret::generate(),
            WebhookSecret::generate(),
            WebhookSecret::generate(),
        );
        let active = active_secrets(
            &[
                stored(&new, None),
                stored(&old, Some(now + chrono::Duration::hours(1))),
                stored(&gone, Some(now - chrono::Duration::hours(1))),
            ],
            now,
        );
        assert_eq!(active, [new, old]);
    }
}
