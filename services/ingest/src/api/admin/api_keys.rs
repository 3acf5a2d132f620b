//! `POST /admin/tenants/{tenant}/api-keys`: another key for a tenant, e.g. to rotate the one
//! an operator keeps in a Kubernetes Secret. A label names the key's holder; a new key under
//! a label revokes that holder's earlier ones in the same transaction, so the holder never
//! has two live keys and never none.

use herald_domain::ApiKey;
use herald_domain::ids::ApiKeyId;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use serde_json::json;

use super::model::{ApiKeyIn, ApiKeyOut};
use super::parse;
use crate::api::ApiTags;
use crate::auth::AdminAuth;
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store;
use crate::store::audit::AuditEntry;

pub struct ApiKeysApi;

#[derive(ApiResponse)]
enum IssueKeyResponse {
    /// The new key, shown this once.
    #[oai(status = 201)]
    Issued(Json<ApiKeyOut>),
}

#[OpenApi(tag = "ApiTags::Admin")]
impl ApiKeysApi {
    /// Issue an API key
    ///
    /// Issues a new key for the tenant (`tenant` is the id or the name); like every key it is
    /// stored only as a hash, so this answer is the one chance to read it. With a `label`
    /// (1 to 200 characters, e.g. `k8s:payments/acme-api-key`), the tenant's earlier live
    /// keys with the same label are revoked in the same transaction: they answer 401 from
    /// now on. Keys without a label are never revoked this way. Send `{}` for an unlabelled
    /// key. Audited, without the key. A disabled tenant's new key answers 403
    /// `tenant_disabled` like its others until the tenant is enabled.
    #[oai(
        path = "/admin/tenants/:tenant/api-keys",
        method = "post",
        operation_id = "issueApiKey"
    )]
    async fn issue(
        &self,
        _auth: AdminAuth,
        state: poem::web::Data<&AppState>,
        tenant: Path<String>,
        body: JsonBody<ApiKeyIn>,
    ) -> ApiResult<IssueKeyResponse> {
        let label = body.value.label;
        if let Some(label) = &label {
            parse::key_label("label", label)?;
        }
        let mut tx = state.pool.begin().await.map_err(anyhow::Error::new)?;
        let tenant = store::tenants::lock(&mut tx, &tenant.0)
            .await?
            .ok_or_else(|| ApiError::not_found("tenant"))?;
        let revoked = match &label {
            Some(label) => store::api_keys::revoke_labelled(&mut tx, tenant.id, label).await?,
            None => Vec::new(),
        };
        let key = ApiKey::generate();
        let row = store::api_keys::insert(&mut tx, tenant.id, &key, label.as_deref()).await?;
        let revoked: Vec<String> = revoked
            .into_iter()
            .map(|id| ApiKeyId::from_uuid(id).to_string())
            .collect();
        let entry = AuditEntry {
            tenant_id: Some(tenant.id),
            actor: "admin",
            action: "api_key.issued",
            target: Some(ApiKeyId::from_uuid(row.id).to_string()),
            details: json!({ "prefix": row.prefix, "label": row.label, "revoked": revoked }),
        };
        store::audit::record(&mut tx, entry).await?;
        tx.commit().await.map_err(anyhow::Error::new)?;
        state.lookups.forget_keys();
        Ok(IssueKeyResponse::Issued(Json(ApiKeyOut::new(&key, row))))
    }
}
