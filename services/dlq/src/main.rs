use herald_runtime::{Config, health, shutdown, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    telemetry::init(config.log_format);
    let addr = health::addr_from_env(
        herald_dlq::HEALTH_ADDR_VARIABLE,
        herald_dlq::DEFAULT_HEALTH_ADDR,
    )?;
    herald_dlq::run(&config, addr, shutdown::on_signal()).await
}
