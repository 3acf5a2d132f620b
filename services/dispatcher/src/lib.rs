//! Dispatcher: pulls delivery jobs from JetStream and delivers them to receivers.
//!
//! The process starts, connects to PostgreSQL and NATS and reports its health; the delivery
//! work it hosts is described in docs/design.md.

use std::net::SocketAddr;
use std::sync::Arc;

use herald_runtime::health::{self, Dependencies};
use herald_runtime::shutdown::ShutdownToken;
use herald_runtime::{Config, Metrics, database, nats};

/// Where the health and metrics routes listen.
pub const HEALTH_ADDR_VARIABLE: &str = "HERALD_DISPATCHER_HEALTH_ADDR";
pub const DEFAULT_HEALTH_ADDR: &str = "127.0.0.1:8081";

pub async fn run(
    config: &Config,
    health_addr: SocketAddr,
    shutdown: ShutdownToken,
) -> anyhow::Result<()> {
    let pool = database::connect_and_migrate(&config.database_url).await?;
    let nats = nats::connect(&config.nats_url, "dispatcher").await?;
    let metrics = Arc::new(Metrics::new());
    tracing::info!(addr = %health_addr, "dispatcher health routes listening");
    health::serve(health_addr, Dependencies { pool, nats }, metrics, shutdown).await
}
