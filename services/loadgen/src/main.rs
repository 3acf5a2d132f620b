//! `herald-loadgen`: a load benchmark for a running Herald. See `--help` and docs/perf/.

use herald_loadgen::config::{Config, USAGE};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(config) = Config::parse(std::env::args().skip(1))? else {
        print!("{USAGE}");
        return Ok(());
    };
    herald_loadgen::run(config).await
}
