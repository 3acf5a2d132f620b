use herald_ingest::Application;
use herald_runtime::{Config, shutdown, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let telemetry = telemetry::init(&config, "herald-ingest")?;
    let app = Application::build(&config).await?;
    tracing::info!(addr = %app.local_addr(), "ingest API listening");
    let result = app.run_until_stopped(shutdown::on_signal()).await;
    tokio::task::spawn_blocking(move || telemetry.shutdown()).await?;
    result
}
