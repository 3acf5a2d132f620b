//! The operator's HTTP routes: `/healthz` (the process answers), `/readyz` (NATS connected;
//! standby replicas are ready too, so a rollout does not wait on the lease) and `/metrics`.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::{Data, Json};
use poem::{EndpointExt, IntoResponse, Response, Route, get, handler};
use serde_json::json;

use crate::metrics::OperatorMetrics;

pub fn routes(metrics: Arc<OperatorMetrics>, nats: async_nats::Client) -> Route {
    Route::new()
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz.data(nats)))
        .at("/metrics", get(metrics_text.data(metrics)))
}

#[handler]
fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

#[handler]
fn readyz(Data(nats): Data<&async_nats::Client>) -> Response {
    let connected = herald_runtime::nats::is_connected(nats);
    let status = if connected {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Json(json!({
        "status": if connected { "ready" } else { "unavailable" },
        "checks": { "nats": nats.connection_state().to_string() },
    }))
    .with_status(status)
    .into_response()
}

#[handler]
fn metrics_text(Data(metrics): Data<&Arc<OperatorMetrics>>) -> Response {
    Response::builder()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(metrics.encode())
}
