//! `herald-operator`: loads settings, starts telemetry, serves its HTTP routes, waits for the
//! leader lease and runs the controller until SIGTERM.

use std::sync::Arc;

use anyhow::Context as _;
use herald_operator::consumer::Consumers;
use herald_operator::controller::{self, Context};
use herald_operator::herald_api::HeraldApi;
use herald_operator::leader::LeaderLease;
use herald_operator::metrics::OperatorMetrics;
use herald_operator::settings::Settings;
use kube::Api;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let telemetry = herald_runtime::telemetry::init(&settings.herald, "herald-operator")?;
    let result = run(settings).await;
    telemetry.shutdown();
    result
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    let shutdown = herald_runtime::shutdown::on_signal();
    let client = kube::Client::try_default()
        .await
        .context("connecting to the Kubernetes API")?;
    let nats = herald_runtime::nats::connect_to(&settings.herald, "herald-operator").await?;
    let metrics = Arc::new(OperatorMetrics::new());

    let routes = herald_operator::http::routes(metrics.clone(), nats.clone());
    let listener = poem::listener::TcpListener::bind(settings.http_addr);
    let http_shutdown = shutdown.clone();
    tokio::spawn(async move {
        let server = poem::Server::new(listener).run_with_graceful_shutdown(
            routes,
            http_shutdown.cancelled_owned(),
            None,
        );
        if let Err(error) = server.await {
            tracing::error!(%error, "operator HTTP routes stopped");
        }
    });

    let lease = LeaderLease::new(
        Api::namespaced(client.clone(), &settings.lease_namespace),
        "herald-operator",
        &settings.identity,
    );
    tracing::info!(identity = %settings.identity, "waiting for the leader lease");
    if !lease.acquire(&shutdown).await {
        return Ok(());
    }
    metrics.leader.set(1);
    tracing::info!("leading: reconciling WebhookTenant resources");

    let herald = HeraldApi::new(&settings.api_url, &settings.admin_token)?;
    let consumers = Consumers::new(
        nats,
        herald_runtime::jetstream::Topology::of(&settings.herald),
        settings.consumer_defaults(),
    );
    let ctx = Arc::new(Context::new(
        client,
        herald,
        consumers,
        metrics.clone(),
        settings.herald.default_quotas,
        settings.resync,
        &settings.identity,
    ));
    let stop = shutdown.child_token();
    let controller = tokio::spawn(controller::run(ctx, stop.clone().cancelled_owned()));
    lease.keep(&shutdown).await;
    metrics.leader.set(0);
    stop.cancel();
    controller.await.context("the controller task")?;
    if !shutdown.is_cancelled() {
        anyhow::bail!("leader lease lost; exiting so that a new leader takes over cleanly");
    }
    Ok(())
}
