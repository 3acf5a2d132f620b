//! What every handler can reach.

use std::sync::Arc;

use herald_domain::AddressPolicy;
use prometheus_client::metrics::counter::Counter;
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

/// Ingest's own metrics, beside the HTTP ones every service has.
#[derive(Default)]
pub struct IngestMetrics {
    pub events_accepted: Counter,
    pub deliveries_created: Counter,
    pub idempotent_replays: Counter,
}

impl IngestMetrics {
    pub fn register(registry: &mut Registry) -> Arc<Self> {
        let metrics = Self::default();
        registry.register(
            "events_accepted",
            "Events stored and answered with 201",
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
        Arc::new(metrics)
    }
}
