//! Middleware giving every HTTP request a server span (`<METHOD> <operationId>`), continuing
//! the caller's trace when it sends `traceparent`, and one log line when it is answered.
//! Health, readiness and metrics requests get debug-level spans, so at the default `info`
//! level a scrape neither logs nor exports anything.

use std::time::Instant;

use poem::http::StatusCode;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};
use poem_openapi::OperationId;
use tracing::Instrument;
use tracing::field::Empty;

use crate::trace_context::{continue_trace, rename};

pub struct TraceRequests;

impl<E: Endpoint> Middleware<E> for TraceRequests {
    type Output = TraceRequestsEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        TraceRequestsEndpoint { inner: ep }
    }
}

pub struct TraceRequestsEndpoint<E> {
    inner: E,
}

/// The status a request was answered with, and its OpenAPI operation if it matched one.
pub fn answered(result: &Result<Response>) -> (StatusCode, Option<&'static str>) {
    match result {
        Ok(resp) => (resp.status(), resp.data::<OperationId>().map(|o| o.0)),
        Err(err) => (err.status(), err.data::<OperationId>().map(|o| o.0)),
    }
}

/// Paths that are polled, not used.
fn is_probe(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

impl<E: Endpoint> Endpoint for TraceRequestsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let started = Instant::now();
        let method = req.method().to_string();
        let path = req.uri().path().to_owned();
        let span = if is_probe(&path) {
            tracing::debug_span!("request", "otel.name" = %method, "otel.kind" = "server",
                "http.request.method" = %method, "url.path" = %path,
                "http.response.status_code" = Empty, "otel.status_code" = Empty,
                operation = Empty, trace_id = Empty, span_id = Empty)
        } else {
            tracing::info_span!("request", "otel.name" = %method, "otel.kind" = "server",
                "http.request.method" = %method, "url.path" = %path,
                "http.response.status_code" = Empty, "otel.status_code" = Empty,
                operation = Empty, trace_id = Empty, span_id = Empty)
        };
        let caller = req
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok());
        continue_trace(&span, caller);
        let result = self
            .inner
            .call(req)
            .instrument(span.clone())
            .await
            .map(IntoResponse::into_response);
        let (status, operation) = answered(&result);
        if let Some(operation) = operation {
            rename(&span, format!("{method} {operation}"));
            span.record("operation", operation);
        }
        span.record("http.response.status_code", status.as_u16());
        if status.is_server_error() {
            span.record("otel.status_code", "error");
        }
        let _entered = span.enter();
        let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        if is_probe(&path) {
            tracing::debug!(duration_ms, "request answered");
        } else {
            tracing::info!(duration_ms, "request answered");
        }
        result
    }
}
