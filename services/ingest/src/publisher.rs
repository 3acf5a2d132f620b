//! Ingest's side of the outbox: after `POST /events` commits, its jobs are published within a
//! time limit (past it the relay takes over). Also keeps the JetStream topology in place:
//! the streams, and one consumer per tenant that is not disabled, whose `max_ack_pending` is
//! the tenant's quota. An admin change makes its consumer change at once; when that fails
//! (NATS down), or another replica made the change, the relay's next topology pass does it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use herald_domain::TenantStatus;
use herald_runtime::jetstream::ConsumerSettings;
use herald_runtime::outbox::{Outbox, OutboxJob};
use uuid::Uuid;

/// Every tenant (or the one in `$2`) with what its consumer needs; `$1` is the default cap.
const TENANT_CONSUMERS: &str =
    "SELECT t.name, t.status, coalesce(q.max_concurrent_deliveries, $1) AS max_ack_pending
     FROM tenants t LEFT JOIN quotas q ON q.tenant_id = t.id
     WHERE $2::uuid IS NULL OR t.id = $2";

/// A digest of everything the tenant consumers depend on (names, statuses, caps): when it
/// differs from the one last applied, the topology is out of date.
const TOPOLOGY_DIGEST: &str = "SELECT md5(coalesce(string_agg(
       t.name || ':' || t.status || ':' || coalesce(q.max_concurrent_deliveries::text, '-'),
       ',' ORDER BY t.name), ''))
     FROM tenants t LEFT JOIN quotas q ON q.tenant_id = t.id";

#[derive(sqlx::FromRow)]
struct TenantConsumer {
    name: String,
    #[sqlx(try_from = "String")]
    status: TenantStatus,
    max_ack_pending: i32,
}

pub struct Publisher {
    outbox: Outbox,
    /// ack_wait and max_deliver for every tenant consumer; max_ack_pending comes from quotas.
    consumer_defaults: ConsumerSettings,
    topology_ready: AtomicBool,
    /// The `TOPOLOGY_DIGEST` of the database when the topology was last ensured.
    applied_digest: Mutex<Option<String>>,
}

impl Publisher {
    pub fn new(outbox: Outbox, consumer_defaults: ConsumerSettings) -> Self {
        Self {
            outbox,
            consumer_defaults,
            topology_ready: AtomicBool::new(false),
            applied_digest: Mutex::new(None),
        }
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Streams, and a consumer for every tenant that should have one, created where missing;
    /// disabled tenants' consumers deleted where still present.
    pub async fn ensure_topology(&self) -> anyhow::Result<()> {
        let js = self.outbox.jetstream();
        self.outbox.topology().ensure_streams(js).await?;
        let tenants: Vec<TenantConsumer> = sqlx::query_as(TENANT_CONSUMERS)
            .bind(self.default_cap())
            .bind(None::<uuid::Uuid>)
            .fetch_all(self.outbox.pool())
            .await
            .context("listing tenants for their consumers")?;
        for tenant in &tenants {
            self.apply(tenant).await?;
        }
        self.topology_ready.store(true, Ordering::Release);
        Ok(())
    }

    /// `ensure_topology`, when it was invalidated or the tenants' names, statuses or caps
    /// changed since it last ran (here or through another replica). The relay calls this on
    /// every pass, so a consumer change that failed (NATS down) is made once it can be.
    pub async fn ensure_topology_if_stale(&self) -> anyhow::Result<()> {
        let digest: String = sqlx::query_scalar(TOPOLOGY_DIGEST)
            .fetch_one(self.outbox.pool())
            .await
            .context("reading the tenant topology digest")?;
        let applied = self
            .applied_digest
            .lock()
            .map(|d| d.clone())
            .unwrap_or(None);
        if self.topology_ready.load(Ordering::Acquire) && applied.as_ref() == Some(&digest) {
            return Ok(());
        }
        // Read before the pass: a change made during it shows as a new digest next time.
        self.ensure_topology().await?;
        if let Ok(mut applied) = self.applied_digest.lock() {
            *applied = Some(digest);
        }
        Ok(())
    }

    /// Brings one tenant's consumer in line with what the database says now: present with
    /// its concurrency quota as `max_ack_pending`, or absent for a disabled tenant, then tells
    /// the dispatchers the tenant changed (they read its status and cap at once rather than at
    /// their next discovery pass). Never fails: when NATS is unreachable the relay's next
    /// topology pass brings the consumer up to date, and the dispatchers' own passes find it.
    pub async fn sync_tenant(&self, tenant: uuid::Uuid) {
        if !self.outbox.connected() {
            tracing::warn!(
                tenant = %herald_domain::TenantId::from_uuid(tenant),
                "NATS is down; the relay will bring the tenant's consumer up to date"
            );
            self.invalidate_topology();
            return;
        }
        let found = sqlx::query_as::<_, TenantConsumer>(TENANT_CONSUMERS)
            .bind(self.default_cap())
            .bind(Some(tenant))
            .fetch_optional(self.outbox.pool())
            .await
            .context("reading the tenant's consumer settings");
        let result = match found {
            Ok(Some(tenant)) => self.apply(&tenant).await,
            Ok(None) => Ok(()),
            Err(error) => Err(error),
        };
        if let Err(error) = result {
            tracing::warn!(
                error = format!("{error:#}"),
                tenant = %herald_domain::TenantId::from_uuid(tenant),
                "tenant consumer not brought up to date yet; the relay will"
            );
            self.invalidate_topology();
        }
        self.announce_change(tenant).await;
    }

    /// Best effort: a lost announcement only delays the change to a dispatcher's next pass.
    async fn announce_change(&self, tenant: uuid::Uuid) {
        let subject = self.outbox.topology().tenant_changed_subject();
        let id = herald_domain::TenantId::from_uuid(tenant).to_string();
        let client = self.outbox.jetstream().client();
        if let Err(error) = client.publish(subject, id.into()).await {
            tracing::debug!(%error, "tenant change not announced; dispatchers will see it on their next pass");
        }
    }

    async fn apply(&self, tenant: &TenantConsumer) -> anyhow::Result<()> {
        if tenant.status.has_consumer() {
            self.ensure_tenant(&tenant.name, i64::from(tenant.max_ack_pending))
                .await
        } else {
            let (js, topology) = (self.outbox.jetstream(), self.outbox.topology());
            topology.delete_tenant_consumer(js, &tenant.name).await
        }
    }

    fn default_cap(&self) -> i32 {
        i32::try_from(self.consumer_defaults.max_ack_pending).unwrap_or(i32::MAX)
    }

    /// Makes the next publish (or relay pass) ensure the whole topology again.
    pub fn invalidate_topology(&self) {
        self.topology_ready.store(false, Ordering::Release);
    }

    /// The tenant's consumer, with its concurrency quota as `max_ack_pending`.
    pub async fn ensure_tenant(&self, tenant: &str, max_ack_pending: i64) -> anyhow::Result<()> {
        let settings = ConsumerSettings {
            max_ack_pending,
            ..self.consumer_defaults
        };
        let (js, topology) = (self.outbox.jetstream(), self.outbox.topology());
        if !self.topology_ready.load(Ordering::Acquire) {
            topology.ensure_streams(js).await?;
        }
        topology.ensure_tenant_consumer(js, tenant, settings).await
    }

    /// Publishes the jobs, first making sure the topology exists.
    pub async fn publish(&self, jobs: &[OutboxJob]) -> anyhow::Result<usize> {
        if jobs.is_empty() {
            return Ok(0);
        }
        self.ensure_topology_once().await?;
        self.outbox.publish(jobs).await
    }

    /// Takes events out of the event outbox: none of their first jobs is pending any more.
    pub async fn settle_events(&self, events: Vec<Uuid>) -> anyhow::Result<()> {
        self.outbox.settle_events(events).await
    }

    /// `publish` for jobs due now, whose confirmations are recorded a moment later where
    /// no dispatcher claimed them first (see `Outbox::publish_fresh`).
    pub async fn publish_fresh(&self, jobs: &[OutboxJob]) -> anyhow::Result<usize> {
        if jobs.is_empty() {
            return Ok(0);
        }
        self.ensure_topology_once().await?;
        self.outbox.publish_fresh(jobs).await
    }

    async fn ensure_topology_once(&self) -> anyhow::Result<()> {
        if self.topology_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        // Boxed: creating the streams is a large future that every publish's would otherwise
        // carry, though it runs once.
        Box::pin(self.ensure_topology()).await
    }

    /// Publishes each job at its offset from now, in the background: a bulk retry's pace.
    /// Should the process stop first, the relay publishes what is left once due.
    pub fn publish_spread(self: &Arc<Self>, mut schedule: Vec<(Duration, OutboxJob)>) {
        schedule.sort_by_key(|(at, _)| *at);
        let publisher = self.clone();
        tokio::spawn(async move {
            let start = tokio::time::Instant::now();
            for (at, job) in schedule {
                tokio::time::sleep_until(start + at).await;
                if let Err(error) = publisher.publish(std::slice::from_ref(&job)).await {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "paced job not published; the relay will"
                    );
                }
            }
        });
    }

    /// Publishes within `limit`, leaving what is not confirmed by then to the relay. The
    /// request path uses this: the database already holds the record.
    pub async fn publish_within(&self, jobs: &[OutboxJob], limit: Duration) {
        if !self.outbox.connected() {
            tracing::debug!("NATS is down; the relay will publish these jobs");
            return;
        }
        match tokio::time::timeout(limit, self.publish_fresh(jobs)).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(
                error = format!("{error:#}"),
                "publishing jobs failed; the relay will retry"
            ),
            Err(_) => tracing::warn!("publishing jobs timed out; the relay will retry"),
        }
    }
}
