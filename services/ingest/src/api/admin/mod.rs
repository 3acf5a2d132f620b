//! `/admin/tenants`: creating tenants (their API key is shown once) and setting quotas.

use chrono::{DateTime, Utc};
use herald_domain::{ApiKey, TenantId, TenantName};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Deserialize;

use super::ApiTags;
use crate::auth::AdminAuth;
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::pagination::PageQuery;
use crate::state::AppState;
use crate::store;

pub struct AdminApi;

/// A new tenant.
#[derive(Debug, Object, Deserialize)]
#[oai(example, rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct TenantIn {
    /// Lowercase letters, digits and '-', 2 to 63 characters, starting with a letter or digit.
    pub name: String,
}

impl Example for TenantIn {
    fn example() -> Self {
        Self {
            name: "acme".into(),
        }
    }
}

#[derive(Debug, Object)]
#[oai(example, rename_all = "snake_case")]
pub struct TenantOut {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
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
            created_at: DateTime::from_timestamp(1_790_000_000, 0).unwrap_or_default(),
            api_key: Some("hk_Zq3v9T1m5x8yK2pL0nB7cR4sW6dE1fG3hJ5kM8oQ9uA".into()),
        }
    }
}

impl From<store::tenants::TenantRow> for TenantOut {
    fn from(row: store::tenants::TenantRow) -> Self {
        Self {
            id: TenantId::from_uuid(row.id).to_string(),
            name: row.name,
            created_at: row.created_at,
            api_key: None,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example, rename_all = "snake_case")]
pub struct TenantPage {
    pub items: Vec<TenantOut>,
    /// Pass as `cursor` for the next page; null on the last page.
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

#[derive(ApiResponse)]
enum CreateTenantResponse {
    /// The tenant, with its API key (shown this once).
    #[oai(status = 201)]
    Created(Json<TenantOut>),
}

#[OpenApi(tag = "ApiTags::Admin")]
impl AdminApi {
    /// Create a tenant
    ///
    /// Creates a tenant with default quotas and returns its API key. The key is stored only
    /// as a hash: this answer is the one chance to read it. A taken name answers 409.
    #[oai(
        path = "/admin/tenants",
        method = "post",
        operation_id = "createTenant"
    )]
    async fn create(
        &self,
        _auth: AdminAuth,
        state: poem::web::Data<&AppState>,
        body: JsonBody<TenantIn>,
    ) -> ApiResult<CreateTenantResponse> {
        let name = TenantName::parse(&body.value.name)
            .map_err(|e| ApiError::bad_request("invalid_name", format!("name: {e}")))?;
        let key = ApiKey::generate();
        let row = store::tenants::create(&state.pool, &name, &key, &state.default_quotas)
            .await?
            .ok_or_else(|| {
                ApiError::conflict("tenant_exists", format!("a tenant named {name:?} exists"))
            })?;
        // Its JetStream consumer; if NATS is down now, the relay creates it once NATS is back.
        let concurrency = i64::from(state.default_quotas.max_concurrent_deliveries);
        if let Err(error) = state
            .publisher
            .ensure_tenant(name.as_str(), concurrency)
            .await
        {
            tracing::warn!(error = format!("{error:#}"), tenant = %name, "consumer not created yet");
            state.publisher.invalidate_topology();
        }
        let mut out = TenantOut::from(row);
        out.api_key = Some(key.expose().to_owned());
        Ok(CreateTenantResponse::Created(Json(out)))
    }

    /// List tenants
    #[oai(path = "/admin/tenants", method = "get", operation_id = "listTenants")]
    async fn list(
        &self,
        _auth: AdminAuth,
        state: poem::web::Data<&AppState>,
        /// Page size, 1 to 250 (default 50).
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<TenantPage>> {
        let page = PageQuery::parse(limit.0, cursor.0.as_deref())?;
        let rows = store::tenants::list(&state.pool, page.cursor, page.limit).await?;
        let (rows, next_cursor) = page.finish(rows, |r| (r.created_at, r.id));
        Ok(Json(TenantPage {
            items: rows.into_iter().map(TenantOut::from).collect(),
            next_cursor,
        }))
    }

    /// Get a tenant
    ///
    /// `tenant` is the tenant's id or its name.
    #[oai(
        path = "/admin/tenants/:tenant",
        method = "get",
        operation_id = "getTenant"
    )]
    async fn get(
        &self,
        _auth: AdminAuth,
        state: poem::web::Data<&AppState>,
        tenant: Path<String>,
    ) -> ApiResult<Json<TenantOut>> {
        let row = store::tenants::find(&state.pool, &tenant.0)
            .await?
            .ok_or_else(|| ApiError::not_found("tenant"))?;
        Ok(Json(row.into()))
    }
}
