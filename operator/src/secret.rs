//! The Secret holding a tenant's API key: created once, owned by its `WebhookTenant` (so
//! Kubernetes deletes it with the resource), never rewritten while it exists.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use crate::error::{Error, Result};
use crate::resource::WebhookTenant;

/// The key under which the API key is stored.
pub const API_KEY: &str = "api-key";
/// The label naming the Herald tenant whose key the Secret holds.
pub const TENANT_LABEL: &str = "herald.dev/tenant";

/// The Secret's name for a resource.
pub fn name(resource: &WebhookTenant) -> String {
    format!("{}-api-key", resource.name_any())
}

/// How Herald labels the key kept in this Secret: issuing a new one revokes the old.
pub fn key_label(resource: &WebhookTenant) -> String {
    format!(
        "kubernetes:{}/{}",
        resource.namespace().unwrap_or_default(),
        name(resource)
    )
}

/// The tenant whose key the resource's Secret holds, or `None` when there is no Secret.
pub async fn tenant_of(api: &Api<Secret>, resource: &WebhookTenant) -> Result<Option<String>> {
    let secret = api.get_opt(&name(resource)).await?;
    Ok(secret.map(|s| s.labels().get(TENANT_LABEL).cloned().unwrap_or_default()))
}

/// Stores a freshly issued key: a new Secret, or the existing one's key replaced (a tenant
/// created again after Herald lost it).
pub async fn store(
    api: &Api<Secret>,
    resource: &WebhookTenant,
    api_key: &str,
    exists: bool,
) -> Result<()> {
    if exists {
        let data = json!({ "data": { API_KEY: base64_of(api_key) } });
        api.patch(
            &name(resource),
            &PatchParams::default(),
            &Patch::Merge(data),
        )
        .await?;
        return Ok(());
    }
    let owner = resource.controller_owner_ref(&()).ok_or(Error::Unnamed)?;
    let tenant = resource.spec.tenant.clone();
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name(resource)),
            namespace: resource.namespace(),
            owner_references: Some(vec![owner]),
            labels: Some(BTreeMap::from([
                (TENANT_LABEL.to_owned(), tenant.clone()),
                (
                    "app.kubernetes.io/managed-by".to_owned(),
                    "herald-operator".to_owned(),
                ),
            ])),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(BTreeMap::from([
            (API_KEY.to_owned(), ByteString(api_key.as_bytes().to_vec())),
            ("tenant".to_owned(), ByteString(tenant.into_bytes())),
        ])),
        ..Secret::default()
    };
    api.create(&PostParams::default(), &secret).await?;
    Ok(())
}

fn base64_of(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}
