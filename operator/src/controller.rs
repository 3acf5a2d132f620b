//! The reconciler: `reconcile` and `error_policy` for `WebhookTenant`, and the controller that
//! runs them. The work itself is in `apply` (create or converge) and `cleanup` (deletion).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use herald_domain::quotas::QuotaLimits;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};

use crate::claims::Claims;
use crate::consumer::Consumers;
use crate::error::Error;
use crate::herald_api::HeraldApi;
use crate::metrics::OperatorMetrics;
use crate::resource::WebhookTenant;
use crate::{apply, cleanup};

/// Kept on every resource until its tenant is disabled and its consumer deleted.
pub const FINALIZER: &str = "herald.dev/cleanup";
/// The longest wait between attempts at a failing resource.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What every reconciliation shares.
pub struct Context {
    pub client: Client,
    pub herald: HeraldApi,
    pub consumers: Consumers,
    pub recorder: Recorder,
    pub metrics: Arc<OperatorMetrics>,
    /// The quotas a tenant has where its spec names none: the platform's defaults, read from
    /// the configuration the services share (`HERALD_DEFAULT_QUOTAS`), so that removing a
    /// field from a spec puts the default back.
    pub default_quotas: QuotaLimits,
    /// How soon a reconciled resource is looked at again.
    pub resync: Duration,
    /// Which resource manages each tenant.
    pub claims: Claims,
    /// Consecutive failures per resource, for the backoff.
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    pub fn new(
        client: Client,
        herald: HeraldApi,
        consumers: Consumers,
        metrics: Arc<OperatorMetrics>,
        default_quotas: QuotaLimits,
        resync: Duration,
        instance: &str,
    ) -> Self {
        let reporter = Reporter {
            controller: "herald-operator".into(),
            instance: Some(instance.to_owned()),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            herald,
            consumers,
            metrics,
            default_quotas,
            resync,
            claims: Claims::default(),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Publishes a Kubernetes Event about the resource; a failure is logged, not fatal.
    pub async fn publish(
        &self,
        resource: &WebhookTenant,
        type_: EventType,
        reason: &str,
        note: String,
    ) {
        let event = Event {
            type_,
            reason: reason.to_owned(),
            note: Some(note),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(error) = self
            .recorder
            .publish(&event, &resource.object_ref(&()))
            .await
        {
            tracing::warn!(%error, reason, "event not recorded");
        }
    }

    /// The delay before the next attempt after a failure: 1 s, doubling, at most 5 minutes.
    fn backoff(&self, key: &str) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let count = failures.entry(key.to_owned()).or_insert(0);
        *count = count.saturating_add(1);
        Duration::from_secs(1u64 << (*count - 1).min(9)).min(MAX_BACKOFF)
    }

    fn forget_failures(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

fn key(resource: &WebhookTenant) -> String {
    format!(
        "{}/{}",
        resource.namespace().unwrap_or_default(),
        resource.name_any()
    )
}

/// Brings Herald in line with the resource; on deletion, cleans up before releasing it.
pub async fn reconcile(resource: Arc<WebhookTenant>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let namespace = resource.namespace().ok_or(Error::Unnamed)?;
    let api: Api<WebhookTenant> = Api::namespaced(ctx.client.clone(), &namespace);
    let object_key = key(&resource);
    let action = finalizer(&api, FINALIZER, resource, |event| async {
        match event {
            finalizer::Event::Apply(resource) => apply::apply(&resource, &ctx).await,
            finalizer::Event::Cleanup(resource) => cleanup::cleanup(&resource, &ctx).await,
        }
    })
    .await
    .map_err(|error| match error {
        finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e,
        finalizer::Error::AddFinalizer(e) | finalizer::Error::RemoveFinalizer(e) => Error::Kube(e),
        finalizer::Error::UnnamedObject | finalizer::Error::InvalidFinalizer => Error::Unnamed,
    })?;
    ctx.forget_failures(&object_key);
    ctx.metrics.succeeded(started.elapsed().as_secs_f64());
    Ok(action)
}

/// Counts the failure under its reason and retries with a growing delay.
pub fn error_policy(resource: Arc<WebhookTenant>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.failed(error.reason());
    let delay = ctx.backoff(&key(&resource));
    tracing::warn!(
        resource = %key(&resource),
        reason = error.reason(),
        error = %error,
        retry_in_s = delay.as_secs(),
        "reconcile failed"
    );
    Action::requeue(delay)
}

/// Watches every `WebhookTenant` until `shutdown` completes. Secrets are not watched (that
/// would take list and watch on every Secret in the cluster): a deleted key Secret is
/// replaced on the next resync.
pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let resources: Api<WebhookTenant> = Api::all(ctx.client.clone());
    let controller = Controller::new(resources, watcher::Config::default());
    ctx.claims.watch(controller.store());
    controller
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => tracing::debug!(resource = %object.name, "reconciled"),
                Err(error) => tracing::debug!(%error, "reconcile pass ended in error"),
            }
        })
        .await;
}
