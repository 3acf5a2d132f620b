//! Finds the tenants' consumers on the deliveries stream and keeps one puller per consumer,
//! and reads each tenant's concurrency cap. Locally ingest creates a consumer with each
//! tenant; on Kubernetes the operator does. A discovery pass runs every discovery interval,
//! and at once when ingest announces a tenant change (created, suspended, resumed, its quotas
//! changed) or JetStream announces that a consumer of the stream was created or deleted: a new
//! tenant's first events, a resumption or a raised cap do not wait for the next pass (the
//! interval still covers an announcement missed while NATS was away). A puller whose consumer
//! vanished (its tenant was disabled) is stopped, even one idle at a cap of 0.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::Context as JetStream;
use async_nats::jetstream::consumer::pull;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt, TryStreamExt};
use herald_runtime::jetstream::Topology;
use herald_runtime::outbox::Outbox;
use herald_runtime::shutdown::ShutdownToken;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::metrics::TenantLabel;
use crate::puller::Puller;
use crate::tenant_caps::TenantCaps;
use crate::worker::Worker;

/// A puller's task, and its own stop signal (a child of the process's shutdown).
struct Running {
    handle: JoinHandle<()>,
    stop: ShutdownToken,
}

pub struct Supervisor {
    pub js: JetStream,
    pub topology: Topology,
    pub worker: Arc<Worker>,
    pub outbox: Outbox,
    pub slots: Arc<Semaphore>,
    pub discovery_interval: Duration,
    /// A tenant's concurrency cap until its quota is read (the default quota).
    pub default_tenant_cap: usize,
    pub heartbeat: Duration,
    pub drain: Duration,
}

impl Supervisor {
    /// Reads the consumer's backlog into the per-tenant gauges, beside the tenant's cap (0
    /// while suspended: its backlog then waits by design, and scales no dispatcher up).
    async fn observe(
        &self,
        stream: &async_nats::jetstream::stream::Stream,
        name: &str,
        tenant: &str,
        cap: usize,
    ) {
        let Ok(mut consumer) = stream.get_consumer::<pull::Config>(name).await else {
            return;
        };
        let Ok(info) = consumer.info().await else {
            return;
        };
        let label = TenantLabel {
            tenant: tenant.to_owned(),
        };
        let metrics = &self.worker.metrics;
        metrics
            .queue_depth
            .get_or_create(&label)
            .set(info.num_pending as i64);
        metrics
            .ack_pending
            .get_or_create(&label)
            .set(info.num_ack_pending as i64);
        metrics
            .tenant_cap
            .get_or_create(&label)
            .set(i64::try_from(cap).unwrap_or(i64::MAX));
    }

    /// Drops a tenant's backlog gauges once its consumer is gone: a series left at its last
    /// value would keep counting jobs that no longer wait, in the backlog alert and in the
    /// sum the dispatchers are scaled on.
    fn forget(&self, tenant: &str) {
        let label = TenantLabel {
            tenant: tenant.to_owned(),
        };
        let metrics = &self.worker.metrics;
        metrics.queue_depth.remove(&label);
        metrics.ack_pending.remove(&label);
        metrics.tenant_cap.remove(&label);
    }

    pub async fn run(self, shutdown: ShutdownToken) {
        let mut pullers: HashMap<String, Running> = HashMap::new();
        let mut caps = TenantCaps::new(self.default_tenant_cap);
        let mut changes = self.tenant_changes().await;
        loop {
            // A puller also stops on its own when it finds its consumer gone.
            pullers.retain(|name, running| {
                let finished = running.handle.is_finished();
                if let Some(tenant) = Topology::tenant_of_consumer(name).filter(|_| finished) {
                    self.forget(tenant);
                }
                !finished
            });
            if let Err(error) = caps.refresh(&self.worker.pool).await {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "tenant concurrency quotas not read; keeping the last known"
                );
            }
            if let Err(error) = self.discover(&mut pullers, &mut caps, &shutdown).await {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "consumer discovery failed; retrying"
                );
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.discovery_interval) => {}
                () = next_change(&mut changes) => {}
            }
        }
        for (_, running) in pullers {
            let _ = running.handle.await;
        }
    }

    /// The announcements of tenant and consumer changes; none if the subscription fails
    /// (discovery then runs on the interval alone).
    async fn tenant_changes(&self) -> Option<BoxStream<'static, async_nats::Message>> {
        let client = self.js.client();
        let mut subscriptions = Vec::new();
        for subject in self.topology.tenant_change_subjects() {
            match client.subscribe(subject).await {
                Ok(subscription) => subscriptions.push(subscription),
                Err(error) => {
                    tracing::warn!(%error, "tenant changes not subscribed; discovery runs on its interval only");
                    return None;
                }
            }
        }
        Some(futures::stream::select_all(subscriptions).boxed())
    }

    async fn discover(
        &self,
        pullers: &mut HashMap<String, Running>,
        caps: &mut TenantCaps,
        shutdown: &ShutdownToken,
    ) -> anyhow::Result<()> {
        self.topology.ensure_streams(&self.js).await?;
        let stream = self
            .js
            .get_stream(self.topology.deliveries_stream())
            .await?;
        let names: Vec<String> = stream.consumer_names().try_collect().await?;
        for (name, running) in pullers.iter() {
            if !names.contains(name) && !running.stop.is_cancelled() {
                tracing::info!(consumer = %name, "consumer deleted; its puller stops");
                running.stop.cancel();
                if let Some(tenant) = Topology::tenant_of_consumer(name) {
                    self.forget(tenant);
                }
            }
        }
        for name in names {
            let Some(tenant) = Topology::tenant_of_consumer(&name) else {
                continue;
            };
            if pullers.contains_key(&name) {
                self.observe(&stream, &name, tenant, caps.current(tenant))
                    .await;
                continue;
            }
            let consumer = stream
                .get_consumer::<pull::Config>(&name)
                .await
                .map_err(|e| anyhow::anyhow!("opening consumer {name}: {e}"))?;
            let puller = Puller {
                consumer,
                tenant: tenant.to_owned(),
                worker: self.worker.clone(),
                outbox: self.outbox.clone(),
                slots: self.slots.clone(),
                tenant_cap: caps.of(tenant),
                load: Default::default(),
                heartbeat: self.heartbeat,
                drain: self.drain,
                message_size: Default::default(),
            };
            tracing::info!(tenant, "pulling deliveries");
            let stop = shutdown.child_token();
            let handle = tokio::spawn(puller.run(stop.clone()));
            pullers.insert(name.clone(), Running { handle, stop });
        }
        Ok(())
    }
}

/// Resolves when a tenant or a consumer changed, after taking every other announcement
/// already queued (one pass covers them all); never, without a subscription.
async fn next_change(changes: &mut Option<BoxStream<'static, async_nats::Message>>) {
    let Some(stream) = changes else {
        return std::future::pending().await;
    };
    if stream.next().await.is_none() {
        *changes = None;
        return std::future::pending().await;
    }
    while let Some(Some(_)) = stream.next().now_or_never() {}
}
