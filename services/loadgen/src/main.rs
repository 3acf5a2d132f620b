//! `herald-loadgen`: a load benchmark for a running Herald. See `--help` and docs/perf/.

use herald_loadgen::config::{Command, USAGE};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(command) = Command::parse(std::env::args().skip(1))? else {
        print!("{USAGE}");
        return Ok(());
    };
    herald_loadgen::execute(command).await
}
