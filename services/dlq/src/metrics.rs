//! `herald_dlq_writes_total{tenant,reason}` and `herald_dlq_size{tenant}`.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WriteLabels {
    pub tenant: String,
    pub reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TenantLabel {
    pub tenant: String,
}

pub struct DlqMetrics {
    pub writes: Family<WriteLabels, Counter>,
    pub size: Family<TenantLabel, Gauge>,
}

impl DlqMetrics {
    pub fn register(registry: &mut Registry) -> Arc<Self> {
        let metrics = Self {
            writes: Family::default(),
            size: Family::default(),
        };
        registry.register(
            "dlq_writes",
            "Dead letters written, by tenant and reason",
            metrics.writes.clone(),
        );
        registry.register(
            "dlq_size",
            "Open (not retried) dead letters per tenant",
            metrics.size.clone(),
        );
        Arc::new(metrics)
    }
}
