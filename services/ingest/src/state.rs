//! What every handler can reach.

use herald_domain::sealing::{self, Keyring};
use std::sync::Arc;

use herald_domain::{AddressPolicy, QuotaLimits};
use herald_runtime::resolve::Lookup;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use sqlx::PgPool;

use crate::backpressure::Backpressure;
use crate::dlq_gate::DlqGate;
use crate::lookups::Lookups;
use crate::publisher::Publisher;
use crate::rate_limit::RateLimiter;
use crate::store::event_batch::EventWriter;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub nats: async_nats::Client,
    /// SHA-256 of the admin token (hex), compared in constant time with the presented
    /// token's; the token itself is not kept. None: the admin API is off.
    pub admin_token_hash: Option<Arc<str>>,
    pub address_policy: Arc<AddressPolicy>,
    /// Resolves a new webhook's host name, to refuse names that point inside early.
    pub dns: Arc<dyn Lookup>,
    pub metrics: Arc<IngestMetrics>,
    pub publisher: Arc<Publisher>,
    pub rate_limiter: Arc<RateLimiter>,
    pub dlq_gate: Arc<DlqGate>,
    /// Keys, quotas and event types as `POST /events` reads them.
    pub lookups: Arc<Lookups>,
    /// Events without an idempotency key, stored in batches across requests.
    pub event_writer: Arc<EventWriter>,
    pub backpressure: Arc<Backpressure>,
    /// What a new tenant's quotas start as.
    pub default_quotas: QuotaLimits,
    /// Seals webhook secrets at rest; none: they are stored as given.
    pub keyring: Option<Arc<Keyring>>,
}

impl AppState {
    /// A secret as stored for the webhook `owner`: sealed when a keyring is configured.
    pub fn seal(&self, secret: &str, owner: uuid::Uuid) -> String {
        sealing::seal_with(self.keyring.as_deref(), secret, owner.as_bytes())
    }

    /// A stored secret of the webhook `owner`, opened.
    pub fn open(&self, stored: &str, owner: uuid::Uuid) -> anyhow::Result<String> {
        sealing::open_with(self.keyring.as_deref(), stored, owner.as_bytes())
            .map_err(|e| anyhow::anyhow!("opening the secret of webhook {owner}: {e}"))
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    pub tenant: String,
    pub event_type: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QuotaLabels {
    pub tenant: String,
    /// The quota's field name, e.g. `events_per_second`.
    pub quota: &'static str,
}

/// Ingest's own metrics, beside the HTTP ones every service has. Labels stay bounded:
/// tenants and their registered types, never ids.
#[derive(Default)]
pub struct IngestMetrics {
    pub events_accepted: Family<EventLabels, Counter>,
    pub deliveries_created: Counter,
    pub idempotent_replays: Counter,
    /// Pending deliveries whose job is due and not confirmed on JetStream.
    pub outbox_backlog: Gauge,
    pub quota_rejections: Family<QuotaLabels, Counter>,
}

impl IngestMetrics {
    pub fn register(registry: &mut Registry) -> Arc<Self> {
        let metrics = Self::default();
        registry.register(
            "events_accepted",
            "Events stored and answered with 201, by tenant and type",
            metrics.events_accepted.clone(),
        );
        registry.register(
            "deliveries_created",
            "Deliveries created by accepted events (one per matching webhook)",
            metrics.deliveries_created.clone(),
        );
        registry.register(
            "idempotent_replays",
            "POST /events answered from a stored Idempotency-Key response",
            metrics.idempotent_replays.clone(),
        );
        registry.register(
            "outbox_backlog",
            "Pending deliveries whose job is due but not yet confirmed on JetStream",
            metrics.outbox_backlog.clone(),
        );
        registry.register(
            "quota_rejections",
            "Requests refused for a tenant quota (429 rate and DLQ size, 413 payload, webhooks)",
            metrics.quota_rejections.clone(),
        );
        Arc::new(metrics)
    }

    pub fn rejected(&self, tenant: &str, quota: &'static str) {
        let labels = QuotaLabels {
            tenant: tenant.to_owned(),
            quota,
        };
        self.quota_rejections.get_or_create(&labels).inc();
    }
}
