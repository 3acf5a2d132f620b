//! Quotas: set by the admin (audited), read by the tenant itself or the admin.

use herald_domain::quotas::MAX_PAYLOAD_CEILING;
use herald_domain::{QuotaLimits, TenantId};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;

use super::ApiTags;
use crate::auth::{AdminAuth, TenantOrAdmin};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store;
use crate::store::audit::AuditEntry;

pub struct QuotasApi;

/// A tenant's limits.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct Limits {
    /// Sustained rate of `POST /events` requests, across every ingest replica.
    pub events_per_second: u32,
    /// Requests accepted at once after a quiet spell (the token bucket's size).
    pub burst: u32,
    /// Deliveries in flight at once, across all dispatchers.
    pub max_concurrent_deliveries: u32,
    /// Dead-lettered deliveries kept before new events are refused.
    pub max_dlq_size: u64,
    /// Largest accepted `POST /events` body, in bytes.
    pub max_payload_bytes: u64,
    /// Webhooks the tenant may have.
    pub max_webhooks: u32,
}

impl From<QuotaLimits> for Limits {
    fn from(q: QuotaLimits) -> Self {
        Self {
            events_per_second: q.events_per_second,
            burst: q.burst,
            max_concurrent_deliveries: q.max_concurrent_deliveries,
            max_dlq_size: q.max_dlq_size,
            max_payload_bytes: q.max_payload_bytes,
            max_webhooks: q.max_webhooks,
        }
    }
}

/// A partial update: fields left out keep their value.
#[derive(Debug, Default, Object, Deserialize)]
#[oai(example, rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct LimitsPatch {
    pub events_per_second: Option<u32>,
    pub burst: Option<u32>,
    pub max_concurrent_deliveries: Option<u32>,
    pub max_dlq_size: Option<u64>,
    /// At most 4 MiB.
    pub max_payload_bytes: Option<u64>,
    pub max_webhooks: Option<u32>,
}

impl Example for LimitsPatch {
    fn example() -> Self {
        Self {
            events_per_second: Some(500),
            burst: Some(1000),
            max_payload_bytes: Some(512 * 1024),
            ..Self::default()
        }
    }
}

/// Current consumption of each limit.
#[derive(Debug, Object)]
#[oai(rename_all = "snake_case")]
pub struct Usage {
    /// Accepted events per second, averaged over the last 10 seconds.
    pub events_per_second: f64,
    /// Jobs dispatchers hold now and have not finished: the tenant's unacknowledged messages
    /// on JetStream, where the jobs one event sends out together travel as one message and
    /// count once; null when JetStream cannot be asked.
    pub in_flight: Option<i64>,
    /// Dead-lettered deliveries not yet retried.
    pub dlq_size: i64,
    pub webhooks: i64,
}

#[derive(Debug, Object)]
#[oai(example, rename_all = "snake_case")]
pub struct QuotaReport {
    pub tenant: String,
    pub limits: Limits,
    #[oai(skip_serializing_if_is_none)]
    pub usage: Option<Usage>,
}

impl Example for QuotaReport {
    fn example() -> Self {
        Self {
            tenant: "tnt_0193a1b2c3d47e8f9a0b1c2d3e4f5a6b".into(),
            limits: QuotaLimits::default().into(),
            usage: Some(Usage {
                events_per_second: 12.5,
                in_flight: Some(3),
                dlq_size: 0,
                webhooks: 2,
            }),
        }
    }
}

fn apply(patch: &LimitsPatch, mut limits: QuotaLimits) -> Result<QuotaLimits, ApiError> {
    fn check<T: Copy + Into<u64>>(
        name: &str,
        value: Option<T>,
        max: u64,
    ) -> Result<Option<T>, ApiError> {
        match value {
            Some(v) if v.into() == 0 || v.into() > max => Err(ApiError::bad_request(
                "invalid_quota",
                format!("{name}: must be between 1 and {max}"),
            )),
            other => Ok(other),
        }
    }
    let int_max = i32::MAX as u64;
    let big_max = i64::MAX as u64;
    if let Some(v) = check("events_per_second", patch.events_per_second, int_max)? {
        limits.events_per_second = v;
    }
    if let Some(v) = check("burst", patch.burst, int_max)? {
        limits.burst = v;
    }
    if let Some(v) = check(
        "max_concurrent_deliveries",
        patch.max_concurrent_deliveries,
        int_max,
    )? {
        limits.max_concurrent_deliveries = v;
    }
    if let Some(v) = check("max_dlq_size", patch.max_dlq_size, big_max)? {
        limits.max_dlq_size = v;
    }
    if let Some(v) = check(
        "max_payload_bytes",
        patch.max_payload_bytes,
        MAX_PAYLOAD_CEILING,
    )? {
        limits.max_payload_bytes = v;
    }
    if let Some(v) = check("max_webhooks", patch.max_webhooks, int_max)? {
        limits.max_webhooks = v;
    }
    Ok(limits)
}

#[OpenApi]
impl QuotasApi {
    /// Set a tenant's quotas
    ///
    /// A partial update: fields left out keep their value. `tenant` is the id or the name.
    /// Every change is written to the audit log with the limits before and after. A disabled
    /// tenant's quotas are stored too and apply once it is enabled.
    #[oai(
        path = "/admin/tenants/:tenant/quotas",
        method = "put",
        operation_id = "setQuotas",
        tag = "ApiTags::Admin"
    )]
    async fn set(
        &self,
        _auth: AdminAuth,
        state: poem::web::Data<&AppState>,
        tenant: Path<String>,
        body: JsonBody<LimitsPatch>,
    ) -> ApiResult<Json<QuotaReport>> {
        let tenant = store::tenants::find(&state.pool, &tenant.0)
            .await?
            .ok_or_else(|| ApiError::not_found("tenant"))?;
        let mut tx = state.pool.begin().await.map_err(anyhow::Error::new)?;
        let before = store::quotas::get_for_update(&mut tx, tenant.id).await?;
        let after = apply(&body.value, before)?;
        store::quotas::upsert(&mut tx, tenant.id, &after).await?;
        let entry = AuditEntry {
            tenant_id: Some(tenant.id),
            actor: "admin",
            action: "quotas.updated",
            target: Some(TenantId::from_uuid(tenant.id).to_string()),
            details: serde_json::json!({ "before": before, "after": after }),
        };
        store::audit::record(&mut tx, entry).await?;
        tx.commit().await.map_err(anyhow::Error::new)?;
        state.lookups.quotas.forget(&tenant.id);
        if before.max_concurrent_deliveries != after.max_concurrent_deliveries {
            // The consumer takes the new cap; a disabled tenant keeps having none.
            state.publisher.sync_tenant(tenant.id).await;
        }
        Ok(Json(QuotaReport {
            tenant: TenantId::from_uuid(tenant.id).to_string(),
            limits: after.into(),
            usage: None,
        }))
    }

    /// Get quotas and usage
    ///
    /// A tenant may read its own (by id or name); the admin may read any.
    #[oai(
        path = "/quotas/:tenant",
        method = "get",
        operation_id = "getQuotas",
        tag = "ApiTags::Quotas"
    )]
    async fn get(
        &self,
        auth: TenantOrAdmin,
        state: poem::web::Data<&AppState>,
        tenant: Path<String>,
    ) -> ApiResult<Json<QuotaReport>> {
        let found = store::tenants::find(&state.pool, &tenant.0).await?;
        let visible = match (&auth, &found) {
            (TenantOrAdmin::Admin(_), Some(_)) => true,
            (TenantOrAdmin::Tenant(t), Some(row)) => t.0.id.as_uuid() == row.id,
            (_, None) => false,
        };
        let row = found
            .filter(|_| visible)
            .ok_or_else(|| ApiError::not_found("tenant"))?;
        let limits = store::quotas::get(&state.pool, row.id).await?;
        let usage = store::quotas::usage(&state.pool, row.id).await?;
        let in_flight = state.backpressure.in_flight(&row.name).await;
        Ok(Json(QuotaReport {
            tenant: TenantId::from_uuid(row.id).to_string(),
            limits: limits.into(),
            usage: Some(Usage {
                events_per_second: usage.events_per_second,
                in_flight: in_flight.map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
                dlq_size: usage.dlq_size,
                webhooks: usage.webhooks,
            }),
        }))
    }
}
