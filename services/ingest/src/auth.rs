//! Who is calling: a tenant by its API key, or the platform admin by its token. Both are
//! `Authorization: Bearer ...`.

use herald_domain::api_key::hash_api_key;
use herald_domain::ids::ApiKeyId;
use herald_domain::{TenantId, TenantStatus};
use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;

/// The tenant a request acts for. Every query a handler runs is scoped by `id`.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub key_id: ApiKeyId,
}

impl Tenant {
    /// How the audit log names this caller.
    pub fn actor(&self) -> String {
        self.key_id.to_string()
    }
}

/// A tenant API key, as returned once by `POST /admin/tenants`.
#[derive(SecurityScheme)]
#[oai(rename = "TenantApiKey", ty = "bearer", checker = "check_tenant_key")]
pub struct TenantAuth(pub Tenant);

/// The platform admin token (`HERALD_ADMIN_TOKEN`).
#[derive(SecurityScheme)]
#[oai(rename = "AdminToken", ty = "bearer", checker = "check_admin_token")]
pub struct AdminAuth(pub Admin);

#[derive(Debug, Clone, Copy)]
pub struct Admin;

/// Either credential, for routes both may use. The admin token is tried first, so a tenant
/// key's own refusal (unknown key, disabled tenant) is the one the caller sees.
#[derive(SecurityScheme)]
pub enum TenantOrAdmin {
    Admin(AdminAuth),
    Tenant(TenantAuth),
}

fn state(req: &Request) -> poem::Result<&AppState> {
    req.data::<AppState>()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("AppState missing from request")).into())
}

/// A live key of a tenant that is not disabled. A disabled tenant's keys answer 403
/// `tenant_disabled`: the key is right, the tenant is switched off (a suspended tenant's
/// keys work; only its deliveries wait).
async fn check_tenant_key(req: &Request, bearer: Bearer) -> poem::Result<Tenant> {
    let state = state(req)?;
    let owner = key_owner(state, &hash_api_key(&bearer.token))
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::unauthorized("invalid or revoked API key"))?;
    if owner.status == TenantStatus::Disabled {
        return Err(ApiError::forbidden(
            "tenant_disabled",
            format!(
                "tenant {:?} is disabled; ask the platform admin to enable it",
                owner.tenant.name
            ),
        )
        .into());
    }
    Ok(owner.tenant)
}

/// The tenant a live key belongs to, and the tenant's status.
#[derive(Debug, Clone)]
pub struct KeyOwner {
    pub tenant: Tenant,
    pub status: TenantStatus,
}

/// Looks the key up, through the cache of keys (see `lookups`).
async fn key_owner(state: &AppState, key_hash: &str) -> anyhow::Result<Option<KeyOwner>> {
    let key_hash = key_hash.to_owned();
    if let Some(owner) = state.lookups.api_keys.get(&key_hash) {
        return Ok(owner);
    }
    let row: Option<(Uuid, String, String, Uuid)> = sqlx::query_as(
        "SELECT t.id, t.name, t.status, k.id FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
         WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
    )
    .bind(&key_hash)
    .fetch_optional(&state.pool)
    .await
    .map_err(|e| anyhow::Error::new(e).context("looking up an API key"))?;
    let owner = match row {
        Some((tenant_id, name, status, key_id)) => Some(KeyOwner {
            tenant: Tenant {
                id: TenantId::from_uuid(tenant_id),
                name,
                key_id: ApiKeyId::from_uuid(key_id),
            },
            status: status
                .parse()
                .map_err(|_| anyhow::anyhow!("tenant {tenant_id} has status {status:?}"))?,
        }),
        None => None,
    };
    state.lookups.api_keys.put(key_hash, owner.clone());
    Ok(owner)
}

async fn check_admin_token(req: &Request, bearer: Bearer) -> poem::Result<Admin> {
    let state = state(req)?;
    let Some(expected) = state.admin_token_hash.as_deref() else {
        return Err(ApiError::forbidden(
            "admin_api_disabled",
            "the admin API is off: set HERALD_ADMIN_TOKEN or HERALD_ADMIN_TOKEN_FILE",
        )
        .into());
    };
    let presented = hash_api_key(&bearer.token);
    if bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(Admin)
    } else {
        Err(ApiError::unauthorized("invalid admin token").into())
    }
}
