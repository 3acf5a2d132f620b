//! What every handler can reach.

use std::sync::Arc;

use herald_domain::AddressPolicy;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use sqlx::PgPool;

use crate::publisher::Publisher;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub nats: async_nats::Client,
    /// None: the admin API is off.
    pub admin_token: Option<Arc<str>>,
    pub address_policy: Arc<AddressPolicy>,
    pub metrics: Arc<IngestMetrics>,
    pub publisher: Arc<Publisher>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    pub tenant: String,
    pub event_type: String,
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
        Arc::new(metrics)
    }
}
