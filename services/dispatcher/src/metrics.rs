//! The dispatcher's metrics.

use std::sync::Arc;

use herald_domain::retry::Decision;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::sender::AttemptReport;
use crate::worker::Outcome;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: &'static str,
}

pub struct DispatchMetrics {
    attempts: Family<ResultLabel, Counter>,
    attempt_duration: Histogram,
    jobs: Family<ResultLabel, Counter>,
}

impl DispatchMetrics {
    pub fn register(registry: &mut Registry) -> Arc<Self> {
        let metrics = Self {
            attempts: Family::default(),
            attempt_duration: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            jobs: Family::default(),
        };
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
