//! The request and answer bodies of the admin tenant API, with their OpenAPI examples.

use chrono::{DateTime, Utc};
use herald_domain::{TenantId, TenantRetrySchedule, TenantStatus};
use poem_openapi::types::{Example, MaybeUndefined};
use poem_openapi::{Enum, Object};
use serde::{Deserialize, Deserializer};

use crate::store::api_keys::KeyRow;
use crate::store::tenants::TenantRow;

fn example_time() -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000, 0).unwrap_or_default()
}

/// A new tenant.
#[derive(Debug, Object, Deserialize)]
#[oai(example, rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct TenantIn {
    /// Lowercase letters, digits and '-', 2 to 63 characters, starting with a letter or digit.
    #[oai(validator(pattern = "^[a-z0-9][a-z0-9-]{1,62}$"))]
    pub name: String,
    /// A human name for dashboards, at most 200 characters.
    pub display_name: Option<String>,
    /// A label for the first API key (1 to 200 characters), naming who holds it, e.g.
    /// `k8s:payments/acme-api-key`. Issuing a key later under the same label revokes this one.
    pub api_key_label: Option<String>,
}

impl Example for TenantIn {
    fn example() -> Self {
        Self {
            name: "acme".into(),
            display_name: Some("Acme Corp.".into()),
            api_key_label: Some("k8s:payments/acme-api-key".into()),
        }
    }
}

/// Where a tenant stands. `active`: everything works. `suspended`: the API works and events
/// are accepted and queued, but nothing is delivered until the tenant is active again.
/// `disabled`: its API keys answer 403 `tenant_disabled` and its delivery queue consumer is
/// removed; its data is kept and it can be enabled again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize)]
#[oai(rename = "TenantStatus", rename_all = "lowercase")]
#[serde(try_from = "String")]
pub enum Status {
    Active,
    Suspended,
    Disabled,
}

/// Read through a string, so a wrong value is reported as the field's error (`status: ...`)
/// rather than as malformed JSON.
impl TryFrom<String> for Status {
    type Error = herald_domain::tenant::InvalidTenantStatus;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        TenantStatus::try_from(value).map(Into::into)
    }
}

impl From<Status> for TenantStatus {
    fn from(status: Status) -> Self {
        match status {
            Status::Active => Self::Active,
            Status::Suspended => Self::Suspended,
            Status::Disabled => Self::Disabled,
        }
    }
}

impl From<TenantStatus> for Status {
    fn from(status: TenantStatus) -> Self {
        match status {
            TenantStatus::Active => Self::Active,
            TenantStatus::Suspended => Self::Suspended,
            TenantStatus::Disabled => Self::Disabled,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example, rename_all = "snake_case")]
pub struct TenantOut {
    pub id: String,
    pub name: String,
    /// A human name; null when not set.
    #[oai(nullable)]
    pub display_name: Option<String>,
    pub status: Status,
    /// The tenant's own delays between attempts, each in its largest exact unit (`"100ms"`,
    /// `"30s"`, `"5m"`, `"1h"`); null: the platform's `HERALD_RETRY_SCHEDULE`.
    #[oai(nullable)]
    pub retry_schedule: Option<Vec<String>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The tenant's API key. Present only in the answer to `POST /admin/tenants`: store it now,
    /// it cannot be shown again.
    #[oai(skip_serializing_if_is_none)]
    pub api_key: Option<String>,
}

impl Example for TenantOut {
    fn example() -> Self {
        Self {
            id: "tnt_0193a1b2c3d47e8f9a0b1c2d3e4f5a6b".into(),
            name: "acme".into(),
            display_name: Some("Acme Corp.".into()),
            status: Status::Active,
            retry_schedule: None,
            created_at: example_time(),
            updated_at: example_time(),
            api_key: Some("hk_Zq3v9T1m5x8yK2pL0nB7cR4sW6dE1fG3hJ5kM8oQ9uA".into()),
        }
    }
}

impl From<TenantRow> for TenantOut {
    fn from(row: TenantRow) -> Self {
        Self {
            id: TenantId::from_uuid(row.id).to_string(),
            retry_schedule: row.retry_schedule().map(|s| s.display()),
            name: row.name,
            display_name: row.display_name,
            status: row.status.into(),
            created_at: row.created_at,
            updated_at: row.updated_at,
            api_key: None,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example, rename_all = "snake_case")]
pub struct TenantPage {
    pub items: Vec<TenantOut>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

impl Example for TenantPage {
    fn example() -> Self {
        Self {
            items: vec![TenantOut {
                api_key: None,
                ..TenantOut::example()
            }],
            next_cursor: None,
        }
    }
}

/// A partial update: fields left out keep their value.
#[derive(Debug, Default, Object, Deserialize)]
#[oai(example, rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct TenantPatch {
    /// At most 200 characters; null clears it.
    #[serde(default)]
    pub display_name: MaybeUndefined<String>,
    /// `disabled` removes the tenant's queue consumer and refuses its API keys (403);
    /// `active` or `suspended` from `disabled` brings the consumer back.
    #[serde(default, deserialize_with = "present")]
    pub status: Option<Status>,
    /// 1 to 20 delays between attempts, each a whole number with `ms`, `s`, `m` or `h`, at
    /// most `168h`; the tenant then gets one attempt more than delays. null: back to the
    /// platform's `HERALD_RETRY_SCHEDULE`.
    #[serde(default)]
    pub retry_schedule: MaybeUndefined<Vec<String>>,
}

/// A field that may be left out but, when given, may not be null.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    match Option::<T>::deserialize(d)? {
        Some(value) => Ok(Some(value)),
        None => Err(serde::de::Error::custom("may not be null")),
    }
}

impl Example for TenantPatch {
    fn example() -> Self {
        Self {
            display_name: MaybeUndefined::Value("Acme Corp.".into()),
            status: Some(Status::Suspended),
            retry_schedule: MaybeUndefined::Value(vec!["1s".into(), "30s".into(), "5m".into()]),
        }
    }
}

/// The parsed form of a `TenantPatch`: `None` leaves a field alone.
#[derive(Debug, Default)]
pub struct SettingsChange {
    pub display_name: Option<Option<String>>,
    pub status: Option<TenantStatus>,
    pub retry_schedule: Option<Option<TenantRetrySchedule>>,
}

/// A new API key for a tenant.
#[derive(Debug, Default, Object, Deserialize)]
#[oai(example, rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct ApiKeyIn {
    /// Who holds the key, 1 to 200 characters. The tenant's earlier live keys with the same
    /// label are revoked at once; unlabelled keys are never revoked this way.
    pub label: Option<String>,
}

impl Example for ApiKeyIn {
    fn example() -> Self {
        Self {
            label: Some("k8s:payments/acme-api-key".into()),
        }
    }
}

#[derive(Debug, Object)]
#[oai(example, rename_all = "snake_case")]
pub struct ApiKeyOut {
    /// The key. Shown this once: only its hash is stored.
    pub api_key: String,
    /// Its first characters, kept in clear to tell keys apart.
    pub prefix: String,
    #[oai(nullable)]
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl Example for ApiKeyOut {
    fn example() -> Self {
        Self {
            api_key: "hk_Zq3v9T1m5x8yK2pL0nB7cR4sW6dE1fG3hJ5kM8oQ9uA".into(),
            prefix: "hk_Zq3v9T".into(),
            label: Some("k8s:payments/acme-api-key".into()),
            created_at: example_time(),
        }
    }
}

impl ApiKeyOut {
    pub fn new(key: &herald_domain::ApiKey, row: KeyRow) -> Self {
        Self {
            api_key: key.expose().to_owned(),
            prefix: row.prefix,
            label: row.label,
            created_at: row.created_at,
        }
    }
}
