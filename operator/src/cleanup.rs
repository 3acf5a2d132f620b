//! Deleting a `WebhookTenant`: the tenant is disabled (its events, deliveries and dead letters
//! stay: they are history) and its consumer deleted; then the finalizer is released and
//! Kubernetes deletes the key Secret with the resource. A resource refused because an earlier
//! one manages its tenant (`claims`) leaves the tenant alone.

use k8s_openapi::api::core::v1::Secret;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};

use crate::controller::Context;
use crate::error::{Error, Result};
use crate::resource::WebhookTenant;
use crate::secret;

pub async fn cleanup(resource: &WebhookTenant, ctx: &Context) -> Result<Action> {
    if let Some(owner) = ctx.claims.earlier_claimant(resource).await {
        let note = format!(
            "tenant {} is managed by WebhookTenant {owner}; left as it is",
            resource.spec.tenant
        );
        ctx.publish(resource, EventType::Normal, "TenantLeftAlone", note)
            .await;
        return Ok(Action::await_change());
    }
    let secrets: Api<Secret> = Api::namespaced(
        ctx.client.clone(),
        &resource.namespace().ok_or(Error::Unnamed)?,
    );
    // The tenant this resource created, should the spec have been edited since.
    let tenant = secret::tenant_of(&secrets, resource)
        .await?
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| resource.spec.tenant.clone());
    ctx.herald.disable_tenant(&tenant).await?;
    ctx.consumers.delete(&tenant).await.map_err(Error::Nats)?;
    let note = format!("tenant {tenant} disabled and its consumer deleted; its data is kept");
    ctx.publish(resource, EventType::Normal, "TenantDisabled", note)
        .await;
    Ok(Action::await_change())
}
