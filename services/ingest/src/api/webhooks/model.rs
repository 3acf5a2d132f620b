//! The request and answer bodies of the webhooks API, with their OpenAPI examples.

use chrono::{DateTime, Utc};
use herald_domain::WebhookId;
use poem_openapi::Object;
use poem_openapi::types::Example;
use serde::Deserialize;

use crate::store::webhooks::WebhookRow;

#[derive(Debug, Object, Deserialize)]
#[oai(example, rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct WebhookIn {
    /// Absolute http(s) URL, at most 2,048 characters, no credentials, not an internal address.
    pub url: String,
    /// Event types to receive; empty or absent means every type.
    pub event_types: Option<Vec<String>>,
    /// `whsec_` + base64 of 24 to 64 bytes; generated when absent.
    pub secret: Option<String>,
    pub description: Option<String>,
}

impl Example for WebhookIn {
    fn example() -> Self {
        Self {
            url: "https://hooks.example.com/herald".into(),
            event_types: Some(vec!["order.created".into()]),
            secret: None,
            description: Some("Order service".into()),
        }
    }
}

/// A partial update: fields left out keep their value.
#[derive(Debug, Object, Deserialize)]
#[oai(example, rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    pub url: Option<String>,
    /// Replaces the filter; `[]` means every type.
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
    /// `true` re-enables a webhook that Herald disabled (after a 410 Gone) or the tenant did.
    pub enabled: Option<bool>,
}

impl Example for WebhookPatch {
    fn example() -> Self {
        Self {
            url: None,
            event_types: Some(vec!["order.created".into(), "order.cancelled".into()]),
            description: None,
            enabled: Some(true),
        }
    }
}

#[derive(Debug, Object)]
#[oai(example, rename_all = "snake_case")]
pub struct WebhookOut {
    pub id: String,
    pub url: String,
    #[oai(nullable)]
    pub description: Option<String>,
    /// Empty: every event type.
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// Why Herald or the tenant disabled it.
    #[oai(nullable)]
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The signing secret. Returned on creation; later from `GET /webhooks/{id}/secret`.
    #[oai(skip_serializing_if_is_none)]
    pub secret: Option<String>,
}

impl Example for WebhookOut {
    fn example() -> Self {
        let at = DateTime::from_timestamp(1_790_000_000, 0).unwrap_or_default();
        Self {
            id: "wh_0193a1b2c3d47e8f9a0b1c2d3e4f5a6b".into(),
            url: "https://hooks.example.com/herald".into(),
            description: Some("Order service".into()),
            event_types: vec!["order.created".into()],
            enabled: true,
            disabled_reason: None,
            created_at: at,
            updated_at: at,
            secret: Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()),
        }
    }
}

impl From<WebhookRow> for WebhookOut {
    fn from(row: WebhookRow) -> Self {
        Self {
            id: WebhookId::from_uuid(row.id).to_string(),
            url: row.url,
            description: row.description,
            event_types: row.event_types,
            enabled: row.enabled,
            disabled_reason: row.disabled_reason,
            created_at: row.created_at,
            updated_at: row.updated_at,
            secret: None,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example, rename_all = "snake_case")]
pub struct WebhookPage {
    pub items: Vec<WebhookOut>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

impl Example for WebhookPage {
    fn example() -> Self {
        Self {
            items: vec![WebhookOut {
                secret: None,
                ..WebhookOut::example()
            }],
            next_cursor: None,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example, rename_all = "snake_case")]
pub struct SecretOut {
    /// `whsec_...`: base64 of the HMAC key, as Standard Webhooks libraries take it.
    pub secret: String,
}

impl Example for SecretOut {
    fn example() -> Self {
        Self {
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        }
    }
}
