//! Prometheus metrics: one registry per process, HTTP request metrics for every service, and
//! room for each service to register its own before serving.

use std::sync::Arc;
use std::time::Instant;

use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    /// The OpenAPI operation id, or the path for plain routes: never raw ids (cardinality).
    pub operation: String,
    pub status: u16,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: HistogramFamily<HttpLabels>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("herald");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration: HistogramFamily<HttpLabels> =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.0005, 2.0, 16)));
        registry.register(
            "http_requests",
            "HTTP requests answered, by operation and status",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request",
            http_duration.clone(),
        );
        Self {
            registry,
            http_requests,
            http_duration,
        }
    }

    /// For a service to add its own metrics before the registry is shared.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Middleware that counts and times every request.
pub struct ObserveHttp(pub Arc<Metrics>);

impl<E: Endpoint> Middleware<E> for ObserveHttp {
    type Output = ObserveHttpEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        ObserveHttpEndpoint {
            inner: ep,
            metrics: self.0.clone(),
        }
    }
}

pub struct ObserveHttpEndpoint<E> {
    inner: E,
    metrics: Arc<Metrics>,
}

impl<E: Endpoint> Endpoint for ObserveHttpEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let started = Instant::now();
        let method = req.method().to_string();
        let path = req.uri().path().to_owned();
        let result = self.inner.call(req).await.map(IntoResponse::into_response);
        let (status, operation) = crate::http_trace::answered(&result);
        let operation = operation.map(str::to_owned).unwrap_or_else(|| {
            // Plain routes (health, docs) have fixed paths; anything else is unmatched.
            match path.as_str() {
                "/healthz" | "/readyz" | "/metrics" | "/openapi.json" | "/docs" => path,
                _ => "unmatched".to_owned(),
            }
        });
        let labels = HttpLabels {
            method,
            operation,
            status: status.as_u16(),
        };
        self.metrics.http_requests.get_or_create(&labels).inc();
        self.metrics
            .http_duration
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
        result
    }
}
