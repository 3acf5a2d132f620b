//! Dispatcher: pulls delivery jobs from every tenant's JetStream consumer, signs and POSTs
//! each to its receiver, records every attempt, retries on the schedule by publishing the next
//! job when it is due, and hands permanent failures to the DLQ service.
//!
//! - `supervisor`: one puller per tenant consumer;
//! - `puller`: fetches what the process has room for, maps outcomes to acks;
//! - `worker`: the step, one job to one `Outcome`;
//! - `sender`, `request`: the HTTP attempt; `store`: its SQL; `dead_letters`: the hand-off;
//! - `spans`: the trace of a job.

#[cfg(test)]
mod batch_plans;
pub mod claim_batch;
pub mod dead_letters;
#[cfg(test)]
mod hot_updates;
mod http_client;
mod load;
pub mod metrics;
pub mod parsed_urls;
pub mod puller;
pub mod record_batch;
pub mod request;
pub mod sender;
pub mod slots;
pub mod spans;
pub mod store;
pub mod supervisor;
pub mod tenant_caps;
#[cfg(test)]
mod warm_pools;
pub mod worker;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use herald_domain::retry::RetryPolicy;
use herald_runtime::database::{self, Warm};
use herald_runtime::health::{self, Dependencies};
use herald_runtime::jetstream::{self, Topology};
use herald_runtime::outbox::Outbox;
use herald_runtime::shutdown::ShutdownToken;
use herald_runtime::{Config, Metrics, nats};
use sqlx::PgPool;
use tokio::sync::Semaphore;

use crate::claim_batch::Claimer;
use crate::dead_letters::DeadLetters;
use crate::metrics::DispatchMetrics;
use crate::record_batch::Recorder;
use crate::sender::Sender;
use crate::slots::WebhookSlots;
use crate::supervisor::Supervisor;
use crate::worker::Worker;

/// Where the health and metrics routes listen.
pub const HEALTH_ADDR_VARIABLE: &str = "HERALD_DISPATCHER_HEALTH_ADDR";
pub const DEFAULT_HEALTH_ADDR: &str = "127.0.0.1:8081";

/// How often tenant consumers are looked for, besides at once on JetStream's advisory that one
/// was created or deleted.
pub const DISCOVERY_INTERVAL: Duration = Duration::from_secs(1);

/// Connects, then dispatches and serves health until `shutdown`.
pub async fn run(
    config: &Config,
    health_addr: SocketAddr,
    shutdown: ShutdownToken,
) -> anyhow::Result<()> {
    let pool = database::connect_and_migrate(&config.database_url, MAIN_POOL).await?;
    let nats = nats::connect_to(config, "dispatcher").await?;
    let mut metrics = Metrics::new();
    let supervisor = supervisor(config, pool.clone(), nats.clone(), metrics.registry_mut())?;
    let metrics = Arc::new(metrics);
    tracing::info!(addr = %health_addr, "dispatcher health routes listening");
    let dispatching = tokio::spawn(supervisor.run(shutdown.clone()));
    let served = health::serve(
        health_addr,
        Dependencies { pool, nats },
        metrics,
        shutdown.clone(),
    )
    .await;
    shutdown.cancel();
    let _ = dispatching.await;
    served
}

/// A small pool on the same database for claims only, whose commits do not wait for the
/// disk (`synchronous_commit = off`): losing one in a crash is harmless, and the next
/// synchronous commit (the attempt's record) makes it durable anyway. Its plans never scan
/// `deliveries` whole (see `INDEX_LOOKUPS`).
pub fn claims_pool(pool: &PgPool) -> PgPool {
    let warm = Warm {
        connections: BATCH_POOL_CONNECTIONS,
        warmup: Some(claim_batch::warm_up),
    };
    derived_pool(pool, &[("synchronous_commit", "off"), INDEX_LOOKUPS], warm)
}

/// A small pool on the same database for attempt records, whose plans never scan
/// `deliveries` whole (see `INDEX_LOOKUPS`) and join a batch to its rows by hash (see
/// `HASHED_BATCHES`).
pub fn records_pool(pool: &PgPool) -> PgPool {
    let warm = Warm {
        connections: BATCH_POOL_CONNECTIONS,
        warmup: Some(record_batch::warm_up),
    };
    derived_pool(pool, &[INDEX_LOOKUPS, HASHED_BATCHES], warm)
}

/// Claims and attempt records look up a batch of deliveries by primary key. Prepared, such a
/// statement switches to a generic plan after five runs (made once, without the batch in
/// hand, and kept until the table is next analyzed), and one made while `deliveries` holds a
/// few hundred rows, as in a new installation's first seconds, scans the whole table: in the
/// benchmark, which starts on an empty database, claims took 0.2 to 0.3 s each after half a
/// minute and deliveries fell seconds behind. With sequential scans priced out, the generic
/// plan keeps the primary key and the statements keep their prepared, unplanned runs
/// (planning each batch instead cost PostgreSQL about a quarter more CPU). Nothing these pools run
/// wants a sequential scan.
const INDEX_LOOKUPS: (&str, &str) = ("enable_seqscan", "off");

/// A batch of attempt records joins its rows to the batch's arrays (`unnest`, see
/// `record_batch::RECORD`). Where PostgreSQL expects one row of `deliveries` (a table not yet
/// analyzed: "processing" then counts as rare), a nested loop looks cheapest, and it reads
/// the whole batch again for every row: in the benchmark, batches of 119 and 134 records
/// discarded 14,042 and 17,822 joined rows, and at 10,000 deliveries/s the statement took 21
/// to 89 us a row from run to run. Priced out, the join is by hash, at 17 to 18 us a row.
/// Nothing the pool runs wants a nested loop: its other statements read one row.
const HASHED_BATCHES: (&str, &str) = ("enable_nestloop", "off");

/// Connections the claims and records pools keep open, warm: two per group-commit writer
/// (each has two), since a connection goes back to its pool only a moment after its
/// statement (sqlx returns it from a task of its own). At 10,000 deliveries/s each pool
/// held 3 or 4.
pub(crate) const BATCH_POOL_CONNECTIONS: usize = 4;

/// The main pool's own statements are not on a delivery's path (claims and records have
/// pools of their own); it keeps two connections open.
const MAIN_POOL: Warm = Warm {
    connections: 2,
    warmup: None,
};

/// A pool of at most 8 connections with these session settings, `warm` (its connections
/// opened in the background now).
fn derived_pool(pool: &PgPool, settings: &[(&str, &str)], warm: Warm) -> PgPool {
    let options = pool
        .connect_options()
        .as_ref()
        .clone()
        .options(settings.iter().copied());
    let derived = warm.pool_options(8).connect_lazy_with(options);
    database::open_in_background(&derived, warm);
    derived
}

/// Everything but the connections and the health routes: tests run this in-process.
pub fn supervisor(
    config: &Config,
    pool: PgPool,
    nats: async_nats::Client,
    registry: &mut prometheus_client::registry::Registry,
) -> anyhow::Result<Supervisor> {
    let js = jetstream::context(nats);
    let topology = Topology::of(config);
    let policy = Arc::new(config.address_policy());
    let outbox = Outbox::new(js.clone(), topology.clone(), pool.clone());
    let worker = Worker {
        claimer: Claimer::new(claims_pool(&pool), config.ack_wait),
        recorder: Recorder::new(records_pool(&pool)),
        pool,
        sender: Sender::new(
            config.delivery_timeout,
            policy,
            config.dns.clone(),
            config.dispatch.process_concurrency,
        )?,
        policy: RetryPolicy::new(config.retry_schedule.clone()),
        dead_letters: DeadLetters::new(js.clone(), topology.clone()),
        park: (config.delivery_timeout / 2).min(Duration::from_secs(5)),
        slots: WebhookSlots::new(config.dispatch.webhook_concurrency),
        metrics: DispatchMetrics::register(registry),
        keyring: config.encryption_keys.clone().map(Arc::new),
    };
    Ok(Supervisor {
        js,
        topology,
        worker: Arc::new(worker),
        outbox,
        slots: Arc::new(Semaphore::new(config.dispatch.process_concurrency)),
        discovery_interval: DISCOVERY_INTERVAL,
        default_tenant_cap: config.default_quotas.max_concurrent_deliveries as usize,
        heartbeat: config.heartbeat(),
        drain: config.delivery_timeout + Duration::from_secs(5),
    })
}
