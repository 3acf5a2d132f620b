//! `/admin/tenants`: creating tenants (their API key is shown once), reading them, and their
//! lifecycle (`lifecycle`) and API keys (`api_keys`). Quotas live in `api::quotas`.

mod api_keys;
mod lifecycle;
mod model;
mod parse;

use herald_domain::{ApiKey, TenantName};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

pub use api_keys::ApiKeysApi;
pub use lifecycle::TenantLifecycleApi;
pub use model::*;

use super::ApiTags;
use crate::auth::AdminAuth;
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::pagination::PageQuery;
use crate::state::AppState;
use crate::store;
use crate::store::tenants::NewTenant;

pub struct AdminApi;

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
    /// Creates an active tenant with default quotas and returns its API key. The key is
    /// stored only as a hash: this answer is the one chance to read it. `api_key_label`
    /// names who holds the key (see `POST /admin/tenants/{tenant}/api-keys`). A taken name
    /// answers 409 `tenant_exists`; a bad name, display name or label 400.
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
        let input = body.value;
        let name = TenantName::parse(&input.name)
            .map_err(|e| ApiError::bad_request("invalid_name", format!("name: {e}")))?;
        if let Some(display_name) = &input.display_name {
            parse::display_name(display_name)?;
        }
        if let Some(label) = &input.api_key_label {
            parse::key_label("api_key_label", label)?;
        }
        let key = ApiKey::generate();
        let new = NewTenant {
            name: &name,
            display_name: input.display_name.as_deref(),
            key: &key,
            key_label: input.api_key_label.as_deref(),
            limits: &state.default_quotas,
        };
        let row = store::tenants::create(&state.pool, new)
            .await?
            .ok_or_else(|| {
                ApiError::conflict("tenant_exists", format!("a tenant named {name:?} exists"))
            })?;
        // Its JetStream consumer; if NATS is down now, the relay creates it once NATS is back.
        state.publisher.sync_tenant(row.id).await;
        let mut out = TenantOut::from(row);
        out.api_key = Some(key.expose().to_owned());
        Ok(CreateTenantResponse::Created(Json(out)))
    }

    /// List tenants
    ///
    /// Every tenant, disabled ones included, oldest first.
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
