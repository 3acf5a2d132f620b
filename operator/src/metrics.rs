//! The operator's metrics, under `herald_operator_*`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// `success` or `error`.
    pub result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// The error's reason (see `Error::reason`).
    pub reason: &'static str,
}

pub struct OperatorMetrics {
    registry: Registry,
    pub reconciliations: Family<ResultLabel, Counter>,
    pub failures: Family<ReasonLabel, Counter>,
    pub duration: Histogram,
    /// 1 while this replica holds the leader lease.
    pub leader: Gauge,
}

impl Default for OperatorMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl OperatorMetrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("herald_operator");
        let reconciliations = Family::<ResultLabel, Counter>::default();
        let failures = Family::<ReasonLabel, Counter>::default();
        let duration = Histogram::new(exponential_buckets(0.005, 2.0, 12));
        let leader = Gauge::default();
        registry.register(
            "reconciliations",
            "WebhookTenant reconciliations, by result",
            reconciliations.clone(),
        );
        registry.register(
            "reconcile_failures",
            "Failed reconciliations, by reason",
            failures.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time one reconciliation took",
            duration.clone(),
        );
        registry.register("leader", "1 while this replica leads", leader.clone());
        Self {
            registry,
            reconciliations,
            failures,
            duration,
            leader,
        }
    }

    pub fn succeeded(&self, seconds: f64) {
        self.duration.observe(seconds);
        self.reconciliations
            .get_or_create(&ResultLabel { result: "success" })
            .inc();
    }

    pub fn failed(&self, reason: &'static str) {
        self.reconciliations
            .get_or_create(&ResultLabel { result: "error" })
            .inc();
        self.failures.get_or_create(&ReasonLabel { reason }).inc();
    }

    pub fn encode(&self) -> String {
        let mut text = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
