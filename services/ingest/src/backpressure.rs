//! Backpressure on `POST /events`: what ingest does when the rest of Herald cannot keep up.
//! Three bounds, each answered with 503 and `Retry-After` before anything is stored:
//! - the event write queue (`HERALD_EVENT_QUEUE`): PostgreSQL is slower than the arrivals;
//! - the outbox backlog (`HERALD_MAX_OUTBOX_BACKLOG`): stored deliveries whose job JetStream
//!   has not confirmed (NATS down or slow);
//! - a tenant's backlog on JetStream (`HERALD_MAX_TENANT_BACKLOG`): its jobs not yet taken by
//!   a dispatcher (dispatchers too few, or its receivers slow under its concurrency quota).
//!   Only that tenant is refused; the others carry on.
//!
//! The two backlogs are sampled at most once a second, by whichever request finds the sample
//! stale, in the background: no request waits for a count.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::jetstream::Context as JetStream;
use async_nats::jetstream::context::{ConsumerInfoError, ConsumerInfoErrorKind};
use futures::TryStreamExt;
use herald_runtime::config::IngestLimits;
use herald_runtime::jetstream::Topology;
use sqlx::PgPool;

use crate::error::ApiError;

/// How old a sample may be before the next request starts a new one.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// How long a sample waits for JetStream.
const JETSTREAM_LIMIT: Duration = Duration::from_secs(2);
/// What a refused client is told to wait.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

pub struct Backpressure {
    limits: IngestLimits,
    pool: PgPool,
    js: JetStream,
    topology: Topology,
    outbox_backlog: AtomicU64,
    /// Jobs waiting in each tenant's consumer, by tenant name.
    tenant_backlogs: Mutex<HashMap<String, u64>>,
    sampled_at: Mutex<Option<Instant>>,
    sampling: AtomicBool,
}

impl Backpressure {
    pub fn new(limits: IngestLimits, pool: PgPool, js: JetStream, topology: Topology) -> Self {
        Self {
            limits,
            pool,
            js,
            topology,
            outbox_backlog: AtomicU64::new(0),
            tenant_backlogs: Mutex::default(),
            sampled_at: Mutex::new(None),
            sampling: AtomicBool::new(false),
        }
    }

    pub fn limits(&self) -> IngestLimits {
        self.limits
    }

    /// Refuses while the outbox or the tenant's JetStream backlog is over its bound.
    pub fn admit(self: &Arc<Self>, tenant: &str) -> Result<(), ApiError> {
        self.sample_if_stale();
        let outbox = self.outbox_backlog.load(Ordering::Relaxed);
        if outbox >= self.limits.max_outbox_backlog {
            return Err(ApiError::unavailable(
                "backlog_full",
                format!(
                    "{outbox} deliveries are waiting to be queued (limit {}); nothing was stored",
                    self.limits.max_outbox_backlog
                ),
                RETRY_AFTER,
            ));
        }
        let waiting = self.lock().get(tenant).copied().unwrap_or(0);
        if waiting >= self.limits.max_tenant_backlog {
            return Err(ApiError::unavailable(
                "backlog_full",
                format!(
                    "{waiting} of this tenant's deliveries are waiting for a dispatcher \
                     (limit {}); nothing was stored",
                    self.limits.max_tenant_backlog
                ),
                RETRY_AFTER,
            ));
        }
        Ok(())
    }

    /// The answer when the event write queue is full.
    pub fn queue_full(&self) -> ApiError {
        ApiError::unavailable(
            "write_queue_full",
            format!(
                "{} events are waiting to be stored; nothing was stored",
                self.limits.event_queue
            ),
            RETRY_AFTER,
        )
    }

    fn sample_if_stale(self: &Arc<Self>) {
        let stale = {
            let sampled_at = self.sampled_at.lock().unwrap_or_else(|p| p.into_inner());
            sampled_at.is_none_or(|at| at.elapsed() >= SAMPLE_EVERY)
        };
        if !stale || self.sampling.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(error) = this.sample().await {
                tracing::warn!(error = format!("{error:#}"), "backlog not sampled");
            }
            *this.sampled_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
            this.sampling.store(false, Ordering::Release);
        });
    }

    /// Reads both backlogs; one that cannot be read keeps its last value.
    pub async fn sample(&self) -> anyhow::Result<()> {
        let outbox = crate::relay::backlog(&self.pool).await?;
        self.outbox_backlog
            .store(u64::try_from(outbox).unwrap_or(0), Ordering::Relaxed);
        // While NATS is away its requests would only wait; the outbox bound covers that time.
        if !herald_runtime::nats::is_connected(&self.js.client()) {
            return Ok(());
        }
        let backlogs = tokio::time::timeout(JETSTREAM_LIMIT, self.tenant_backlogs())
            .await
            .context("JetStream did not answer in time")??;
        *self.lock() = backlogs;
        Ok(())
    }

    /// Jobs waiting in each tenant's consumer.
    async fn tenant_backlogs(&self) -> anyhow::Result<HashMap<String, u64>> {
        let stream = self
            .js
            .get_stream(self.topology.deliveries_stream())
            .await
            .context("reading the deliveries stream")?;
        let mut backlogs = HashMap::new();
        let mut consumers = stream.consumers();
        while let Some(info) = consumers.try_next().await.context("listing consumers")? {
            if let Some(tenant) = Topology::tenant_of_consumer(&info.name) {
                backlogs.insert(tenant.to_owned(), info.num_pending);
            }
        }
        Ok(backlogs)
    }

    /// Jobs of `tenant` that dispatchers hold and have not finished: its consumer's
    /// unacknowledged count, read now. `None` when JetStream cannot say (NATS away); 0 for a
    /// tenant without a consumer (disabled).
    pub async fn in_flight(&self, tenant: &str) -> Option<u64> {
        if !herald_runtime::nats::is_connected(&self.js.client()) {
            return None;
        }
        let lookup = async {
            let stream = self
                .js
                .get_stream(self.topology.deliveries_stream())
                .await
                .context("reading the deliveries stream")?;
            match stream.consumer_info(Topology::consumer_name(tenant)).await {
                Ok(info) => Ok(info.num_ack_pending as u64),
                Err(error) if is_not_found(&error) => Ok(0),
                Err(error) => Err(anyhow::Error::from(error)),
            }
        };
        match tokio::time::timeout(JETSTREAM_LIMIT, lookup).await {
            Ok(Ok(in_flight)) => Some(in_flight),
            Ok(Err(error)) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    tenant,
                    "in-flight count not read"
                );
                None
            }
            Err(_) => None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.tenant_backlogs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

fn is_not_found(error: &ConsumerInfoError) -> bool {
    matches!(
        error.kind(),
        ConsumerInfoErrorKind::NotFound | ConsumerInfoErrorKind::StreamNotFound
    )
}
