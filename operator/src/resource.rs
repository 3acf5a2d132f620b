//! The `WebhookTenant` custom resource (`webhooktenants.herald.dev/v1alpha1`, short name
//! `wht`). The schema Kubernetes validates `kubectl apply` against is generated from these
//! types (`crdgen`), so ranges and patterns live here, next to the fields.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A Herald tenant, its quotas and whether its deliveries run.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "herald.dev",
    version = "v1alpha1",
    kind = "WebhookTenant",
    namespaced,
    status = "WebhookTenantStatus",
    shortname = "wht",
    printcolumn = r#"{"name":"Tenant","type":"string","jsonPath":".spec.tenant"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Events/s","type":"integer","jsonPath":".spec.quotas.eventsPerSecond"}"#,
    printcolumn = r#"{"name":"Concurrency","type":"integer","jsonPath":".spec.quotas.maxConcurrentDeliveries"}"#,
    printcolumn = r#"{"name":"DLQ","type":"integer","jsonPath":".status.usage.dlqSize"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct WebhookTenantSpec {
    /// Herald's name for the tenant (lowercase letters, digits and dashes); fixed once created.
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9-]{1,62}$"))]
    pub tenant: String,
    /// A human name, for dashboards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200))]
    pub display_name: Option<String>,
    /// Limits; a field left out keeps Herald's default.
    #[serde(default)]
    pub quotas: TenantQuotas,
    /// Delays between attempts for this tenant (e.g. `["1s", "30s", "5m"]`), instead of the
    /// platform's schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 20),
        inner(regex(pattern = r"^[0-9]+(ms|s|m|h)$"))
    )]
    pub retry_schedule: Option<Vec<String>>,
    /// Pauses the tenant's deliveries; queued jobs wait and nothing is lost.
    #[serde(default)]
    pub suspended: bool,
}

/// The tenant's quotas, as Herald's quotas API names them (camelCase here).
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantQuotas {
    /// Sustained rate of `POST /events`, across every ingest replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 2_147_483_647))]
    pub events_per_second: Option<u32>,
    /// Events accepted at once after a quiet spell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 2_147_483_647))]
    pub burst: Option<u32>,
    /// Deliveries in flight at once, across every dispatcher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 2_147_483_647))]
    pub max_concurrent_deliveries: Option<u32>,
    /// Open dead letters before new events are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_dlq_size: Option<u64>,
    /// Largest accepted event body, in bytes (at most 4 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4_194_304))]
    pub max_payload_bytes: Option<u64>,
    /// Webhooks the tenant may register.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 2_147_483_647))]
    pub max_webhooks: Option<u32>,
}

/// What the operator last saw and did.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookTenantStatus {
    /// `Ready`, `ConsumerReady` and `QuotasApplied`.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The tenant's JetStream consumer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer: Option<String>,
    /// The Secret (same namespace) holding the tenant's API key, under `api-key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_secret: Option<String>,
    /// Usage when last resynced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<TenantUsage>,
}

/// A condition, as Kubernetes conventions have them.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// One CamelCase word: why.
    pub reason: String,
    /// Why, for a human.
    #[serde(default)]
    pub message: String,
    /// RFC 3339.
    pub last_transition_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantUsage {
    /// Deliveries being attempted.
    pub in_flight: i64,
    /// Open dead letters.
    pub dlq_size: i64,
}
