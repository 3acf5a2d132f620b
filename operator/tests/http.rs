//! The operator's HTTP routes against a real nats-server.

use std::sync::Arc;
use std::time::Duration;

use herald_operator::metrics::OperatorMetrics;
use herald_test_support::{NatsServer, eventually};
use poem::http::StatusCode;
use poem::test::TestClient;

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let nats_server = NatsServer::start().expect("nats-server");
    let nats = herald_runtime::nats::connect(nats_server.url(), "test")
        .await
        .expect("NATS");
    let metrics = Arc::new(OperatorMetrics::new());
    metrics.failed("HeraldUnavailable");
    metrics.succeeded(0.01);
    let client = TestClient::new(herald_operator::http::routes(metrics, nats));

    client.get("/healthz").send().await.assert_status_is_ok();
    eventually(
        "ready once NATS is connected",
        Duration::from_secs(5),
        || async {
            (client.get("/readyz").send().await.0.status() == StatusCode::OK).then_some(())
        },
    )
    .await;
    drop(nats_server);
    eventually(
        "unready once NATS is gone",
        Duration::from_secs(10),
        || async {
            (client.get("/readyz").send().await.0.status() == StatusCode::SERVICE_UNAVAILABLE)
                .then_some(())
        },
    )
    .await;
    let response = client.get("/metrics").send().await;
    response.assert_status_is_ok();
    let text = response.0.into_body().into_string().await.expect("text");
    for series in [
        "herald_operator_reconciliations_total{result=\"success\"} 1",
        "herald_operator_reconciliations_total{result=\"error\"} 1",
        "herald_operator_reconcile_failures_total{reason=\"HeraldUnavailable\"} 1",
        "herald_operator_reconcile_duration_seconds_count 1",
        "herald_operator_leader 0",
    ] {
        assert!(text.contains(series), "{series} in\n{text}");
    }
}
