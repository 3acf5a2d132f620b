//! `GET /tenant`: the tenant an API key belongs to, so a client holding only the key (the
//! portal, a CLI) learns its id and name, e.g. for `GET /quotas/{tenant}`.

use poem_openapi::OpenApi;
use poem_openapi::payload::Json;

use super::ApiTags;
use super::admin::TenantOut;
use crate::auth::TenantAuth;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store;

pub struct CurrentTenantApi;

#[OpenApi(tag = "ApiTags::Quotas")]
impl CurrentTenantApi {
    /// Get the key's tenant
    ///
    /// The tenant the presented API key belongs to: its id, name and settings.
    #[oai(path = "/tenant", method = "get", operation_id = "getCurrentTenant")]
    async fn get(
        &self,
        auth: TenantAuth,
        state: poem::web::Data<&AppState>,
    ) -> ApiResult<Json<TenantOut>> {
        let row = store::tenants::find(&state.pool, &auth.0.id.to_string())
            .await?
            .ok_or_else(|| ApiError::not_found("tenant"))?;
        Ok(Json(TenantOut::from(row)))
    }
}
