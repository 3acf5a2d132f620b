//! One resource per tenant. Two `WebhookTenant`s naming the same tenant (in two namespaces, or
//! twice in one) would both steer it: quotas flapping between two specs, an API key issued
//! into a second namespace, and the tenant disabled when either is deleted. The first one
//! created manages the tenant; any later one is refused (`TenantTaken`) and, when deleted,
//! leaves the tenant alone. Once the first is gone, the next in line takes over on its next
//! retry.

use std::sync::OnceLock;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::runtime::reflector::Store;

use crate::resource::WebhookTenant;

/// Every `WebhookTenant` the controller watches: its reflector's store.
#[derive(Default)]
pub struct Claims {
    resources: OnceLock<Store<WebhookTenant>>,
}

impl Claims {
    /// Starts answering from `store`. Until then (a `reconcile` called on its own) no other
    /// resource is known.
    pub fn watch(&self, store: Store<WebhookTenant>) {
        if self.resources.set(store).is_err() {
            tracing::warn!("the resource store was set twice; keeping the first");
        }
    }

    /// `namespace/name` of the resource that manages `resource`'s tenant, when that is an
    /// earlier one; `None` when `resource` is the first to name it.
    pub async fn earlier_claimant(&self, resource: &WebhookTenant) -> Option<String> {
        let store = self.resources.get()?;
        // Right after a start the store fills from the first list: until it has, an earlier
        // resource may simply not have arrived yet.
        store.wait_until_ready().await.ok()?;
        let mine = rank(resource);
        store
            .state()
            .into_iter()
            .filter(|other| other.spec.tenant == resource.spec.tenant)
            .filter(|other| other.uid() != resource.uid())
            .filter(|other| rank(other) < mine)
            .min_by(|a, b| rank(a).cmp(&rank(b)))
            .map(|first| {
                format!(
                    "{}/{}",
                    first.namespace().unwrap_or_default(),
                    first.name_any()
                )
            })
    }
}

/// Earlier first: creation time, then uid, so that two resources never both come first.
fn rank(resource: &WebhookTenant) -> (Option<Time>, Option<String>) {
    (resource.metadata.creation_timestamp.clone(), resource.uid())
}
