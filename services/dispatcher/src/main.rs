use herald_runtime::{Config, health, shutdown, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let telemetry = telemetry::init(&config, "herald-dispatcher")?;
    let addr = health::addr_from_env(
        herald_dispatcher::HEALTH_ADDR_VARIABLE,
        herald_dispatcher::DEFAULT_HEALTH_ADDR,
    )?;
    let result = herald_dispatcher::run(&config, addr, shutdown::on_signal()).await;
    tokio::task::spawn_blocking(move || telemetry.shutdown()).await?;
    result
}
