//! `GET /audit`: who changed what. A tenant reads its own entries; the admin reads every
//! entry, or one tenant's.

use chrono::{DateTime, Utc};
use herald_domain::TenantId;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{Object, OpenApi};

use super::ApiTags;
use crate::auth::TenantOrAdmin;
use crate::error::{ApiError, ApiResult};
use crate::pagination::PageQuery;
use crate::state::AppState;
use crate::store;
use crate::store::audit::{AuditFilter, AuditRow};

pub struct AuditApi;

/// One change.
#[derive(Debug, Object)]
#[oai(example, rename_all = "snake_case")]
pub struct AuditEntryOut {
    pub id: String,
    /// The tenant concerned; null for platform-wide entries.
    #[oai(nullable)]
    pub tenant_id: Option<String>,
    /// `admin`, or the id of the API key that made the change (`key_...`).
    pub actor: String,
    /// What was done, e.g. `webhook.created`, `webhook.secret_rotated`, `quotas.updated`,
    /// `dlq.retried`, `tenant.created`.
    pub action: String,
    /// The object changed, e.g. a webhook or tenant id.
    #[oai(nullable)]
    pub target: Option<String>,
    /// What changed (never a secret or a key).
    pub details: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

impl Example for AuditEntryOut {
    fn example() -> Self {
        Self {
            id: "0193a1b2-c3d4-7e8f-9a0b-1c2d3e4f5a6b".into(),
            tenant_id: Some("tnt_0193a1b2c3d47e8f9a0b1c2d3e4f5a6b".into()),
            actor: "key_0193a1b2c3d47e8f9a0b1c2d3e4f5a6c".into(),
            action: "webhook.secret_rotated".into(),
            target: Some("wh_0193a1b2c3d47e8f9a0b1c2d3e4f5a6d".into()),
            details: serde_json::json!({ "grace_period_s": 86400 }),
            created_at: DateTime::from_timestamp(1_790_000_000, 0).unwrap_or_default(),
        }
    }
}

impl From<AuditRow> for AuditEntryOut {
    fn from(row: AuditRow) -> Self {
        Self {
            id: row.id.to_string(),
            tenant_id: row.tenant_id.map(|id| TenantId::from_uuid(id).to_string()),
            actor: row.actor,
            action: row.action,
            target: row.target,
            details: row.details,
            created_at: row.created_at,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example, rename_all = "snake_case")]
pub struct AuditPage {
    pub items: Vec<AuditEntryOut>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

impl Example for AuditPage {
    fn example() -> Self {
        Self {
            items: vec![AuditEntryOut::example()],
            next_cursor: None,
        }
    }
}

#[OpenApi(tag = "ApiTags::Audit")]
impl AuditApi {
    /// List audit entries
    ///
    /// Changes, newest first: webhooks created, changed, deleted, their secrets rotated;
    /// dead letters retried or discarded; quotas changed; tenants created, updated, disabled;
    /// API keys issued. With a tenant API key, the tenant's own entries; with the admin
    /// token, every entry (or one tenant's, with `tenant`).
    #[oai(path = "/audit", method = "get", operation_id = "listAuditEntries")]
    async fn list(
        &self,
        auth: TenantOrAdmin,
        state: poem::web::Data<&AppState>,
        /// Only entries whose action starts with this, e.g. `webhook.`.
        action: Query<Option<String>>,
        /// Admin only: one tenant's entries (its id or name).
        tenant: Query<Option<String>>,
        /// Page size, 1 to 250 (default 50).
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<AuditPage>> {
        let page = PageQuery::parse(limit.0, cursor.0.as_deref())?;
        let tenant = match (&auth, tenant.0) {
            (TenantOrAdmin::Tenant(own), None) => Some(own.0.id.as_uuid()),
            (TenantOrAdmin::Tenant(_), Some(_)) => {
                return Err(ApiError::bad_request(
                    "invalid_filter",
                    "tenant: only the admin may name a tenant; a tenant sees its own entries",
                ));
            }
            (TenantOrAdmin::Admin(_), None) => None,
            (TenantOrAdmin::Admin(_), Some(name)) => Some(
                store::tenants::find(&state.pool, &name)
                    .await?
                    .ok_or_else(|| ApiError::not_found("tenant"))?
                    .id,
            ),
        };
        let filter = AuditFilter {
            tenant,
            action_prefix: action.0.as_deref().filter(|a| !a.is_empty()),
        };
        let rows = store::audit::list(&state.pool, &filter, page.cursor, page.limit).await?;
        let (rows, next_cursor) = page.finish(rows, |r| (r.created_at, r.id));
        Ok(Json(AuditPage {
            items: rows.into_iter().map(AuditEntryOut::from).collect(),
            next_cursor,
        }))
    }
}
