//! DLQ service: owns the dead-letter path. It records every dead delivery exactly once,
//! whether the dispatcher handed it off or JetStream gave up on its job, and exports the
//! DLQ's size. Tenants read and retry dead letters through the public API.
//!
//! - `handoffs`: the dispatcher's hand-offs on the dead-letters stream;
//! - `advisories`: JetStream's MAX_DELIVERIES / MSG_TERMINATED advisories, the safety net;
//! - `store`: the idempotent SQL; `consume`: the pull loop both use.

pub mod advisories;
pub mod consume;
pub mod handoffs;
pub mod metrics;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::Context as JetStream;
use herald_runtime::database::{self, Warm};
use herald_runtime::health::{self, Dependencies};
use herald_runtime::jetstream::{self, Topology};
use herald_runtime::shutdown::ShutdownToken;
use herald_runtime::{Config, Metrics, nats};
use metrics::{DlqMetrics, TenantLabel};
use sqlx::PgPool;

/// Where the health and metrics routes listen.
pub const HEALTH_ADDR_VARIABLE: &str = "HERALD_DLQ_HEALTH_ADDR";
pub const DEFAULT_HEALTH_ADDR: &str = "127.0.0.1:8082";

const HANDOFF_CONSUMER: &str = "dlq_handoffs";
const ADVISORY_CONSUMER: &str = "dlq_advisories";
/// How often the DLQ size gauge is refreshed, and a failed start-up retried.
const REFRESH: Duration = Duration::from_secs(5);

pub async fn run(
    config: &Config,
    health_addr: SocketAddr,
    shutdown: ShutdownToken,
) -> anyhow::Result<()> {
    let pool = database::connect_and_migrate(&config.database_url, Warm::default()).await?;
    let nats = nats::connect_to(config, "dlq").await?;
    let mut metrics = Metrics::new();
    let service =
        DeadLetterService::new(config, pool.clone(), nats.clone(), metrics.registry_mut());
    let metrics = Arc::new(metrics);
    tracing::info!(addr = %health_addr, "dlq health routes listening");
    let working = tokio::spawn(service.run(shutdown.clone()));
    let served = health::serve(
        health_addr,
        Dependencies { pool, nats },
        metrics,
        shutdown.clone(),
    )
    .await;
    shutdown.cancel();
    let _ = working.await;
    served
}

pub struct DeadLetterService {
    pool: PgPool,
    js: JetStream,
    topology: Topology,
    metrics: Arc<DlqMetrics>,
}

impl DeadLetterService {
    pub fn new(
        config: &Config,
        pool: PgPool,
        nats: async_nats::Client,
        registry: &mut prometheus_client::registry::Registry,
    ) -> Self {
        Self {
            pool,
            js: jetstream::context(nats),
            topology: Topology::of(config),
            metrics: DlqMetrics::register(registry),
        }
    }

    /// Consumes hand-offs and advisories until `shutdown`.
    pub async fn run(self, shutdown: ShutdownToken) {
        let (handoffs, advisories) = loop {
            match self.consumers().await {
                Ok(consumers) => break consumers,
                Err(error) => {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "DLQ streams not ready; retrying"
                    );
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(REFRESH) => {}
                    }
                }
            }
        };
        let handoff = Arc::new(handoffs::Handoffs {
            pool: self.pool.clone(),
            metrics: self.metrics.clone(),
        });
        let advisory = Arc::new(advisories::Advisories {
            pool: self.pool.clone(),
            js: self.js.clone(),
            topology: self.topology.clone(),
            metrics: self.metrics.clone(),
        });
        tokio::join!(
            consume::consume(handoffs, "dead letters", shutdown.clone(), |message| {
                let handoff = handoff.clone();
                async move {
                    let handled = handoff.handle(&message).await;
                    (message, handled)
                }
            }),
            consume::consume(advisories, "advisories", shutdown.clone(), |message| {
                let advisory = advisory.clone();
                async move {
                    let handled = advisory.handle(&message).await;
                    (message, handled)
                }
            }),
            self.refresh_size(shutdown.clone()),
        );
    }

    async fn consumers(
        &self,
    ) -> anyhow::Result<(
        async_nats::jetstream::consumer::PullConsumer,
        async_nats::jetstream::consumer::PullConsumer,
    )> {
        self.topology.ensure_streams(&self.js).await?;
        self.topology.ensure_advisories_stream(&self.js).await?;
        let handoffs = self
            .topology
            .ensure_service_consumer(
                &self.js,
                &self.topology.dead_letters_stream(),
                HANDOFF_CONSUMER,
            )
            .await?;
        let advisories = self
            .topology
            .ensure_service_consumer(
                &self.js,
                &self.topology.advisories_stream(),
                ADVISORY_CONSUMER,
            )
            .await?;
        Ok((handoffs, advisories))
    }

    async fn refresh_size(&self, shutdown: ShutdownToken) {
        loop {
            match store::open_counts(&self.pool).await {
                Ok(counts) => {
                    for (tenant, open) in counts {
                        self.metrics
                            .size
                            .get_or_create(&TenantLabel { tenant })
                            .set(open);
                    }
                }
                Err(error) => {
                    tracing::warn!(error = format!("{error:#}"), "DLQ size not refreshed")
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(REFRESH) => {}
            }
        }
    }
}
