//! `herald-loadgen`: a load benchmark for a running Herald. See `--help` and docs/perf/.

use herald_loadgen::config::{Command, USAGE};

/// mimalloc instead of the C library's allocator: the load generator shares the machine with
/// the stack it measures, and takes less CPU from it this way (docs/perf/rounds/15.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(command) = Command::parse(std::env::args().skip(1))? else {
        print!("{USAGE}");
        return Ok(());
    };
    herald_loadgen::execute(command).await
}
