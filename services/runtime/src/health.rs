//! `/healthz` (the process answers), `/readyz` (its dependencies answer) and `/metrics`.

use std::sync::Arc;
use std::time::Duration;

use poem::http::StatusCode;
use poem::web::{Data, Json};
use poem::{EndpointExt, IntoResponse, Response, Route, get, handler};
use serde_json::json;
use sqlx::PgPool;

use crate::Metrics;

/// What `/readyz` checks.
#[derive(Clone)]
pub struct Dependencies {
    pub pool: PgPool,
    pub nats: async_nats::Client,
}

/// Adds the three routes to a service's router.
pub fn routes(route: Route, dependencies: Dependencies, metrics: Arc<Metrics>) -> Route {
    route
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz.data(dependencies)))
        .at("/metrics", get(metrics_text.data(metrics)))
}

#[handler]
fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

#[handler]
async fn readyz(Data(deps): Data<&Dependencies>) -> Response {
    let postgres = match tokio::time::timeout(
        Duration::from_secs(2),
        sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&deps.pool),
    )
    .await
    {
        Ok(Ok(_)) => "ok".to_owned(),
        Ok(Err(error)) => format!("error: {error}"),
        Err(_) => "error: timed out".to_owned(),
    };
    let nats = if crate::nats::is_connected(&deps.nats) {
        "ok".to_owned()
    } else {
        format!("error: {}", deps.nats.connection_state())
    };
    let ready = postgres == "ok" && nats == "ok";
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "checks": { "postgres": postgres, "nats": nats },
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Json(body).with_status(status).into_response()
}

#[handler]
fn metrics_text(Data(metrics): Data<&Arc<Metrics>>) -> Response {
    Response::builder()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(metrics.encode())
}

/// Serves only the health and metrics routes on `addr` until `shutdown`: the whole HTTP
/// surface of a worker service.
pub async fn serve(
    addr: std::net::SocketAddr,
    dependencies: Dependencies,
    metrics: Arc<Metrics>,
    shutdown: crate::shutdown::ShutdownToken,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let app = routes(Route::new(), dependencies, metrics.clone())
        .with(crate::metrics::ObserveHttp(metrics));
    poem::Server::new(poem::listener::TcpListener::bind(addr))
        .run_with_graceful_shutdown(
            app,
            shutdown.cancelled_owned(),
            Some(Duration::from_secs(5)),
        )
        .await
        .with_context(|| format!("serving health routes on {addr}"))
}

/// A worker's health address from `variable`, or `default`.
pub fn addr_from_env(variable: &str, default: &str) -> anyhow::Result<std::net::SocketAddr> {
    use anyhow::Context;
    let raw = std::env::var(variable).unwrap_or_else(|_| default.to_owned());
    raw.parse()
        .with_context(|| format!("{variable} {raw:?} is not host:port"))
}
