//! The dispatcher's metrics.

use std::sync::Arc;

use herald_domain::retry::Decision;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::sender::AttemptReport;
use crate::worker::Outcome;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: &'static str,
}

/// Seconds. 300 is a bound because the delivery SLO counts deliveries within five minutes.
const END_TO_END_BUCKETS: [f64; 15] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TenantLabel {
    pub tenant: String,
}

pub struct DispatchMetrics {
    attempts: Family<ResultLabel, Counter>,
    attempt_duration: Histogram,
    end_to_end: Histogram,
    jobs: Family<ResultLabel, Counter>,
    /// Jobs waiting in each tenant's consumer, and those handed out but not yet acked.
    pub queue_depth: Family<TenantLabel, Gauge>,
    pub ack_pending: Family<TenantLabel, Gauge>,
    pub tenant_cap: Family<TenantLabel, Gauge>,
    /// Jobs this process is working now.
    pub in_flight: Gauge,
}

impl DispatchMetrics {
    pub fn register(registry: &mut Registry) -> Arc<Self> {
        let metrics = Self {
            attempts: Family::default(),
            attempt_duration: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            end_to_end: Histogram::new(END_TO_END_BUCKETS),
            jobs: Family::default(),
            queue_depth: Family::default(),
            ack_pending: Family::default(),
            tenant_cap: Family::default(),
            in_flight: Gauge::default(),
        };
        registry.register(
            "delivery_end_to_end_seconds",
            "From the event accepted to its delivery succeeded (the delivery SLO's measure)",
            metrics.end_to_end.clone(),
        );
        registry.register(
            "consumer_pending_jobs",
            "Messages (a job, or the jobs of one event) waiting in a tenant's consumer (JetStream num_pending)",
            metrics.queue_depth.clone(),
        );
        registry.register(
            "consumer_ack_pending",
            "Messages (a job, or the jobs of one event) handed to dispatchers and not yet acked, per tenant (JetStream num_ack_pending)",
            metrics.ack_pending.clone(),
        );
        registry.register(
            "tenant_concurrency_cap",
            "The deliveries a tenant may have in flight as this dispatcher applies it: its \
             max_concurrent_deliveries, 0 while it is suspended",
            metrics.tenant_cap.clone(),
        );
        registry.register(
            "dispatcher_in_flight",
            "Jobs this dispatcher is working now",
            metrics.in_flight.clone(),
        );
        registry.register(
            "delivery_attempts",
            "HTTP attempts to receivers, by what followed (success, retry, dead)",
            metrics.attempts.clone(),
        );
        registry.register(
            "delivery_attempt_duration_seconds",
            "Time from sending an attempt to the receiver's answer or the failure",
            metrics.attempt_duration.clone(),
        );
        registry.register(
            "dispatcher_jobs",
            "Delivery jobs worked, by outcome (delivered, rescheduled, dead, skip, defer, error)",
            metrics.jobs.clone(),
        );
        Arc::new(metrics)
    }

    pub fn observe_attempt(&self, report: &AttemptReport, decision: Decision) {
        let result = match decision {
            Decision::Succeeded => "success",
            Decision::RetryIn(_) => "retry",
            Decision::Dead(_) => "dead",
        };
        self.attempts.get_or_create(&ResultLabel { result }).inc();
        self.attempt_duration.observe(report.duration.as_secs_f64());
    }

    pub fn observe_delivered(&self, end_to_end: std::time::Duration) {
        self.end_to_end.observe(end_to_end.as_secs_f64());
    }

    pub fn observe_job(&self, outcome: Option<Outcome>) {
        let result = match outcome {
            Some(Outcome::Delivered) => "delivered",
            Some(Outcome::Rescheduled(..)) => "rescheduled",
            Some(Outcome::Dead) => "dead",
            Some(Outcome::Skip) => "skip",
            Some(Outcome::Defer(_)) => "defer",
            None => "error",
        };
        self.jobs.get_or_create(&ResultLabel { result }).inc();
    }
}
