//! A tenant's lifecycle: renaming it for humans, suspending, disabling and enabling it, and
//! its own retry schedule. Disabling keeps every row (events, deliveries, dead letters,
//! webhooks); it removes the tenant's JetStream consumer and refuses its API keys.

use herald_domain::TenantStatus;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::model::{SettingsChange, TenantOut, TenantPatch};
use crate::api::ApiTags;
use crate::auth::AdminAuth;
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store;
use crate::store::tenants::TenantRow;

pub struct TenantLifecycleApi;

#[derive(ApiResponse)]
enum DisableTenantResponse {
    /// Disabled (or already was). Its data is kept; `PATCH` with `"status": "active"`
    /// enables it again.
    #[oai(status = 204)]
    Disabled,
}

/// Applies the change (audited as `action`). A request that names a status also brings the
/// tenant's consumer in line with it: deleted for `disabled`, created otherwise; repeating
/// the request repairs a consumer change that failed before.
async fn change(
    state: &AppState,
    tenant: &str,
    action: &str,
    change: SettingsChange,
) -> ApiResult<TenantRow> {
    let names_status = change.status.is_some();
    let updated = store::tenants::update(&state.pool, tenant, action, |s| change.apply(s))
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    state.lookups.forget_keys();
    let moved = updated.before.status.has_consumer() != updated.after.status.has_consumer();
    if names_status || moved {
        state.publisher.sync_tenant(updated.after.id).await;
    }
    Ok(updated.after)
}

#[OpenApi(tag = "ApiTags::Admin")]
impl TenantLifecycleApi {
    /// Update a tenant
    ///
    /// A partial update of `display_name`, `status` and `retry_schedule`; fields left out keep
    /// their value, `null` clears `display_name` or returns the tenant to the platform's retry
    /// schedule. `tenant` is the id or the name. Every change is audited with the settings
    /// before and after.
    ///
    /// `suspended` pauses deliveries: events are still accepted and queued, attempts under
    /// way finish, and delivery resumes where it stopped when the tenant is `active` again.
    /// `disabled` is what `DELETE` does. Leaving `disabled` re-creates the tenant's consumer.
    /// Bad values answer 400: `invalid_display_name` (over 200 characters),
    /// `invalid_retry_schedule` (not 1 to 20 delays, or a delay that does not parse or is
    /// over 168h), `invalid_request` (an unknown status, a field of the wrong type or name).
    #[oai(
        path = "/admin/tenants/:tenant",
        method = "patch",
        operation_id = "updateTenant"
    )]
    async fn update(
        &self,
        _auth: AdminAuth,
        state: poem::web::Data<&AppState>,
        tenant: Path<String>,
        body: JsonBody<TenantPatch>,
    ) -> ApiResult<Json<TenantOut>> {
        let patch = body.value.parse()?;
        let row = change(&state, &tenant.0, "tenant.updated", patch).await?;
        Ok(Json(row.into()))
    }

    /// Disable a tenant
    ///
    /// Sets the tenant's status to `disabled`, exactly as `PATCH` with
    /// `{"status": "disabled"}`: its API keys answer 403 `tenant_disabled`, its JetStream
    /// consumer is deleted and nothing more is delivered. Nothing is deleted: events,
    /// deliveries, dead letters, webhooks and keys stay, readable by the admin, and the
    /// tenant can be enabled again. Disabling a disabled tenant answers 204 again.
    #[oai(
        path = "/admin/tenants/:tenant",
        method = "delete",
        operation_id = "disableTenant"
    )]
    async fn disable(
        &self,
        _auth: AdminAuth,
        state: poem::web::Data<&AppState>,
        tenant: Path<String>,
    ) -> ApiResult<DisableTenantResponse> {
        let disable = SettingsChange {
            status: Some(TenantStatus::Disabled),
            ..SettingsChange::default()
        };
        change(&state, &tenant.0, "tenant.disabled", disable).await?;
        Ok(DisableTenantResponse::Disabled)
    }
}
