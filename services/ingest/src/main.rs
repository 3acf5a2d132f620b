use herald_ingest::Application;
use herald_runtime::{Config, shutdown, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    telemetry::init(config.log_format);
    let app = Application::build(&config).await?;
    tracing::info!(addr = %app.local_addr(), "ingest API listening");
    app.run_until_stopped(shutdown::on_signal()).await
}
