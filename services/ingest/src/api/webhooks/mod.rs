//! `/webhooks`: the endpoints that receive a tenant's events.

use herald_domain::{WebhookId, WebhookSecret, WebhookUrl};
use herald_runtime::resolve::{ResolveError, permitted_addresses};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use serde_json::json;
use uuid::Uuid;

use super::ApiTags;
use crate::auth::{Tenant, TenantAuth};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::pagination::PageQuery;
use crate::state::AppState;
use crate::store;
use crate::store::webhooks::{NewWebhook, WebhookChanges};

mod model;
mod rotation;

pub use model::*;
pub use rotation::WebhookSecretsApi;

pub struct WebhooksApi;

const MAX_DESCRIPTION: usize = 1024;

/// How long registration waits for a webhook host's DNS answer.
const REGISTRATION_LOOKUP: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(ApiResponse)]
enum CreateWebhookResponse {
    /// The webhook, with its signing secret.
    #[oai(status = 201)]
    Created(Json<WebhookOut>),
}

#[derive(ApiResponse)]
enum DeleteWebhookResponse {
    /// Deleted; its past deliveries stay readable.
    #[oai(status = 204)]
    Deleted,
}

fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse::<WebhookId>()
        .map(|id| id.as_uuid())
        .map_err(|_| ApiError::not_found("webhook"))
}

fn check_description(description: Option<&str>) -> Result<(), ApiError> {
    match description {
        Some(d) if d.chars().count() > MAX_DESCRIPTION => Err(ApiError::bad_request(
            "invalid_description",
            format!("description: at most {MAX_DESCRIPTION} characters"),
        )),
        _ => Ok(()),
    }
}

impl WebhooksApi {
    /// Parses the URL under the SSRF policy, then resolves a host name once: a name that
    /// answers only internal addresses is refused now rather than at every delivery. A name
    /// that does not resolve (yet) is accepted; delivery checks every resolution again.
    async fn parse_url(state: &AppState, raw: &str) -> Result<WebhookUrl, ApiError> {
        let invalid = |message: String| ApiError::bad_request("invalid_url", message);
        let url = WebhookUrl::parse(raw, &state.address_policy)
            .map_err(|e| invalid(format!("url: {e}")))?;
        if let Some(name) = url.host_name() {
            let resolving = permitted_addresses(state.dns.as_ref(), &state.address_policy, name);
            match tokio::time::timeout(REGISTRATION_LOOKUP, resolving).await {
                Ok(Err(refused @ ResolveError::Refused { .. })) => {
                    let why = format!(
                        "url: url host {refused}; a webhook must point at a public address"
                    );
                    return Err(invalid(why));
                }
                Ok(Ok(_) | Err(ResolveError::Dns { .. })) | Err(_) => {}
            }
        }
        Ok(url)
    }

    /// Refuses filters naming types the tenant has not registered: a typo would otherwise
    /// silently receive nothing.
    async fn check_event_types(
        state: &AppState,
        tenant: Uuid,
        types: &[String],
    ) -> Result<(), ApiError> {
        if types.is_empty() {
            return Ok(());
        }
        let unknown = store::event_types::unknown_among(&state.pool, tenant, types).await?;
        if unknown.is_empty() {
            return Ok(());
        }
        Err(ApiError::unprocessable(
            "unknown_event_type",
            format!(
                "event_types: not registered: {}; register them with POST /event-types",
                unknown.join(", ")
            ),
        ))
    }
}

/// The audit entry of a change to a webhook.
async fn audit(
    conn: &mut sqlx::PgConnection,
    tenant: &Tenant,
    action: &str,
    webhook: Uuid,
    details: serde_json::Value,
) -> anyhow::Result<()> {
    let target = Some(WebhookId::from_uuid(webhook).to_string());
    store::audit::record_by_tenant(conn, tenant, action, target, details).await
}
fn dedupe(mut types: Vec<String>) -> Vec<String> {
    types.sort();
    types.dedup();
    types
}

#[OpenApi(tag = "ApiTags::Webhooks")]
impl WebhooksApi {
    /// Create a webhook
    ///
    /// Registers an endpoint for the tenant's events. The answer carries the signing secret.
    /// Internal addresses (loopback, private, link-local, metadata, in any spelling), host
    /// names that resolve only to them, and ports outside `HERALD_ALLOWED_PORTS` are refused
    /// with 400 `invalid_url`, whose message says why.
    #[oai(path = "/webhooks", method = "post", operation_id = "createWebhook")]
    async fn create(
        &self,
        auth: TenantAuth,
        state: poem::web::Data<&AppState>,
        body: JsonBody<WebhookIn>,
    ) -> ApiResult<CreateWebhookResponse> {
        let tenant = auth.0.id.as_uuid();
        let input = body.value;
        let url = Self::parse_url(&state, &input.url).await?;
        let secret = match input.secret.as_deref() {
            Some(raw) => WebhookSecret::parse(raw)
                .map_err(|e| ApiError::bad_request("invalid_secret", format!("secret: {e}")))?,
            None => WebhookSecret::generate(),
        };
        check_description(input.description.as_deref())?;
        let event_types = dedupe(input.event_types.unwrap_or_default());
        Self::check_event_types(&state, tenant, &event_types).await?;

        let mut tx = state.pool.begin().await.map_err(anyhow::Error::new)?;
        let limits = store::quotas::get_for_update(&mut tx, tenant).await?;
        let count = store::webhooks::count(&mut tx, tenant).await?;
        if count >= i64::from(limits.max_webhooks) {
            state.metrics.rejected(&auth.0.name, "max_webhooks");
            return Err(ApiError::unprocessable(
                "webhook_limit_reached",
                format!("the tenant has {count} webhooks, its limit"),
            ));
        }
        let id = WebhookId::new().as_uuid();
        let new = NewWebhook {
            id,
            sealed_secret: state.seal(&secret.expose(), id),
            url: url.as_str(),
            description: input.description.as_deref(),
            event_types: &event_types,
        };
        let row = store::webhooks::insert(&mut tx, tenant, new).await?;
        audit(
            &mut tx,
            &auth.0,
            "webhook.created",
            row.id,
            json!({ "url": row.url }),
        )
        .await?;
        tx.commit().await.map_err(anyhow::Error::new)?;
        let mut out = WebhookOut::from(row);
        out.secret = Some(secret.expose());
        Ok(CreateWebhookResponse::Created(Json(out)))
    }

    /// List webhooks
    #[oai(path = "/webhooks", method = "get", operation_id = "listWebhooks")]
    async fn list(
        &self,
        auth: TenantAuth,
        state: poem::web::Data<&AppState>,
        /// Page size, 1 to 250 (default 50).
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<WebhookPage>> {
        let page = PageQuery::parse(limit.0, cursor.0.as_deref())?;
        let rows = store::webhooks::list(&state.pool, auth.0.id.as_uuid(), page.cursor, page.limit)
            .await?;
        let (rows, next_cursor) = page.finish(rows, |r| (r.created_at, r.id));
        Ok(Json(WebhookPage {
            items: rows.into_iter().map(WebhookOut::from).collect(),
            next_cursor,
        }))
    }

    /// Get a webhook
    #[oai(path = "/webhooks/:id", method = "get", operation_id = "getWebhook")]
    async fn get(
        &self,
        auth: TenantAuth,
        state: poem::web::Data<&AppState>,
        id: Path<String>,
    ) -> ApiResult<Json<WebhookOut>> {
        let row = store::webhooks::find(&state.pool, auth.0.id.as_uuid(), parse_id(&id.0)?)
            .await?
            .ok_or_else(|| ApiError::not_found("webhook"))?;
        Ok(Json(row.into()))
    }

    /// Get a webhook's signing secret
    #[oai(
        path = "/webhooks/:id/secret",
        method = "get",
        operation_id = "getWebhookSecret"
    )]
    async fn secret(
        &self,
        auth: TenantAuth,
        state: poem::web::Data<&AppState>,
        id: Path<String>,
    ) -> ApiResult<Json<SecretOut>> {
        let row = store::webhooks::find(&state.pool, auth.0.id.as_uuid(), parse_id(&id.0)?)
            .await?
            .ok_or_else(|| ApiError::not_found("webhook"))?;
        let stored = row
            .current_secret()
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("webhook has no secret")))?;
        Ok(Json(SecretOut {
            secret: state.open(stored, row.id)?,
        }))
    }

    /// Update a webhook
    ///
    /// Changes only the fields given. The secret is not changed here.
    #[oai(
        path = "/webhooks/:id",
        method = "patch",
        operation_id = "updateWebhook"
    )]
    async fn update(
        &self,
        auth: TenantAuth,
        state: poem::web::Data<&AppState>,
        id: Path<String>,
        body: JsonBody<WebhookPatch>,
    ) -> ApiResult<Json<WebhookOut>> {
        let tenant = auth.0.id.as_uuid();
        let id = parse_id(&id.0)?;
        let patch = body.value;
        let url = match patch.url.as_deref() {
            Some(raw) => Some(Self::parse_url(&state, raw).await?),
            None => None,
        };
        check_description(patch.description.as_deref())?;
        let event_types = patch.event_types.map(dedupe);
        if let Some(types) = &event_types {
            Self::check_event_types(&state, tenant, types).await?;
        }
        let changes = WebhookChanges {
            url: url.map(|u| u.as_str().to_owned()),
            description: patch.description,
            event_types,
            enabled: patch.enabled,
        };
        let details = serde_json::to_value(&changes).map_err(anyhow::Error::new)?;
        let mut tx = state.pool.begin().await.map_err(anyhow::Error::new)?;
        let row = store::webhooks::update(&mut tx, tenant, id, changes)
            .await?
            .ok_or_else(|| ApiError::not_found("webhook"))?;
        audit(&mut tx, &auth.0, "webhook.updated", id, details).await?;
        tx.commit().await.map_err(anyhow::Error::new)?;
        Ok(Json(row.into()))
    }

    /// Delete a webhook
    ///
    /// It stops receiving events at once; its past deliveries stay readable.
    #[oai(
        path = "/webhooks/:id",
        method = "delete",
        operation_id = "deleteWebhook"
    )]
    async fn delete(
        &self,
        auth: TenantAuth,
        state: poem::web::Data<&AppState>,
        id: Path<String>,
    ) -> ApiResult<DeleteWebhookResponse> {
        let id = parse_id(&id.0)?;
        let mut tx = state.pool.begin().await.map_err(anyhow::Error::new)?;
        if !store::webhooks::delete(&mut tx, auth.0.id.as_uuid(), id).await? {
            return Err(ApiError::not_found("webhook"));
        }
        audit(&mut tx, &auth.0, "webhook.deleted", id, json!({})).await?;
        tx.commit().await.map_err(anyhow::Error::new)?;
        Ok(DeleteWebhookResponse::Deleted)
    }
}
