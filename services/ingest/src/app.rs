//! Building the service: a testable `Application` that binds its port (0 in tests) and runs
//! until its shutdown token is cancelled.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use herald_runtime::database::{self, Warm};
use herald_runtime::health::{self, Dependencies};
use herald_runtime::http_trace::TraceRequests;
use herald_runtime::jetstream::{ConsumerSettings, Topology};
use herald_runtime::metrics::ObserveHttp;
use herald_runtime::outbox::Outbox;
use herald_runtime::shutdown::ShutdownToken;
use herald_runtime::{Config, Metrics};
use poem::listener::TcpAcceptor;
use poem::middleware::CatchPanic;
use poem::{Endpoint, EndpointExt, Route, Server};
use prometheus_client::metrics::gauge::Gauge;
use sqlx::PgPool;

use crate::backpressure::Backpressure;
use crate::dlq_gate::DlqGate;
use crate::error::JsonErrors;
use crate::hardening::{AuthFailures, SecurityHeaders, ThrottleFailedAuth};
use crate::publisher::Publisher;
use crate::rate_limit::RateLimiter;
use crate::state::{AppState, IngestMetrics};
use crate::store::event_batch::{self, EventWriter};

/// How long in-flight requests may take to finish after shutdown is requested.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

pub struct Application {
    acceptor: TcpAcceptor,
    local_addr: SocketAddr,
    endpoint: poem::endpoint::BoxEndpoint<'static>,
    config: Config,
    pool: PgPool,
    nats: async_nats::Client,
    outbox_backlog: Gauge,
}

/// Ingest's pool keeps about as many connections open as it uses under load, each warmed
/// with an empty event batch: three per event writer, since a connection goes back to the
/// pool only a moment after its statement (sqlx returns it from a task of its own) and the
/// requests' own reads (keys, quotas) take some too. At 10,000 deliveries/s it held 11 to 14.
const POOL: Warm = Warm {
    connections: 3 * event_batch::WRITERS,
    warmup: Some(event_batch::warm_up),
};

impl Application {
    /// Connects to PostgreSQL (creating and migrating the database) and NATS, and binds.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let pool = database::connect_and_migrate(&config.database_url, POOL).await?;
        let nats = herald_runtime::nats::connect_to(config, "ingest").await?;
        Self::with_connections(config, pool, nats).await
    }

    /// For tests that bring their own database and NATS server.
    pub async fn with_connections(
        config: &Config,
        pool: PgPool,
        nats: async_nats::Client,
    ) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(config.api_addr)
            .await
            .with_context(|| format!("binding the API to {}", config.api_addr))?;
        let local_addr = listener.local_addr().context("reading the bound address")?;
        let acceptor = TcpAcceptor::from_tokio(listener).context("wrapping the listener")?;
        let mut metrics = Metrics::new();
        let ingest_metrics = IngestMetrics::register(metrics.registry_mut());
        let outbox_backlog = ingest_metrics.outbox_backlog.clone();
        let endpoint =
            build_endpoint(config, pool.clone(), nats.clone(), metrics, ingest_metrics).boxed();
        Ok(Self {
            acceptor,
            local_addr,
            endpoint,
            config: config.clone(),
            pool,
            nats,
            outbox_backlog,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` is cancelled, then lets in-flight requests finish.
    pub async fn run_until_stopped(self, shutdown: ShutdownToken) -> anyhow::Result<()> {
        let housekeeping = background_with(
            &self.config,
            self.pool,
            self.nats,
            self.outbox_backlog,
            shutdown.clone(),
        );
        let served = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(
                self.endpoint,
                shutdown.clone().cancelled_owned(),
                Some(DRAIN_TIMEOUT),
            )
            .await
            .context("serving the API");
        shutdown.cancel();
        let _ = housekeeping.await;
        served
    }
}

/// What runs beside the API until `shutdown`: the outbox relay and housekeeping.
pub fn background(
    config: &Config,
    pool: PgPool,
    nats: async_nats::Client,
    shutdown: ShutdownToken,
) -> tokio::task::JoinHandle<()> {
    background_with(config, pool, nats, Gauge::default(), shutdown)
}

/// `background`, reporting the outbox backlog on `outbox_backlog`.
fn background_with(
    config: &Config,
    pool: PgPool,
    nats: async_nats::Client,
    outbox_backlog: Gauge,
    shutdown: ShutdownToken,
) -> tokio::task::JoinHandle<()> {
    let publisher = Arc::new(publisher(config, pool.clone(), nats));
    let keyring = config.encryption_keys.clone();
    if keyring.is_none() {
        tracing::warn!("HERALD_ENCRYPTION_KEY is not set: webhook secrets are stored unsealed");
    }
    tokio::spawn(async move {
        if let Err(error) = publisher.ensure_topology().await {
            tracing::warn!(
                error = format!("{error:#}"),
                "JetStream topology not ready yet; the relay retries"
            );
        }
        tokio::join!(
            crate::relay::run(
                publisher,
                pool.clone(),
                crate::relay::GRACE,
                outbox_backlog,
                shutdown.clone()
            ),
            crate::maintenance::run(pool, keyring, shutdown),
        );
    })
}

fn publisher(config: &Config, pool: PgPool, nats: async_nats::Client) -> Publisher {
    let defaults = ConsumerSettings {
        max_ack_pending: i64::from(config.default_quotas.max_concurrent_deliveries),
        ack_wait: config.ack_wait,
        max_deliver: config.dispatch.max_deliver,
    };
    let outbox = Outbox::new(
        herald_runtime::jetstream::context(nats),
        Topology::of(config),
        pool,
    )
    .with_bundle_jobs(config.ingest.bundle_jobs);
    Publisher::new(outbox, defaults)
}

/// The whole HTTP surface, without a socket: tests drive it with `poem::test::TestClient`.
pub fn endpoint(
    config: &Config,
    pool: PgPool,
    nats: async_nats::Client,
) -> impl Endpoint<Output = poem::Response> + 'static {
    let mut metrics = Metrics::new();
    let ingest_metrics = IngestMetrics::register(metrics.registry_mut());
    build_endpoint(config, pool, nats, metrics, ingest_metrics)
}

fn build_endpoint(
    config: &Config,
    pool: PgPool,
    nats: async_nats::Client,
    metrics: Metrics,
    ingest_metrics: Arc<IngestMetrics>,
) -> impl Endpoint<Output = poem::Response> + 'static {
    let metrics = Arc::new(metrics);
    let state = AppState {
        pool: pool.clone(),
        nats: nats.clone(),
        admin_token_hash: config
            .admin_token
            .as_deref()
            .map(|token| Arc::from(herald_domain::api_key::hash_api_key(token))),
        address_policy: Arc::new(config.address_policy()),
        dns: config.dns.clone(),
        metrics: ingest_metrics,
        publisher: Arc::new(publisher(config, pool.clone(), nats.clone())),
        rate_limiter: Arc::new(RateLimiter::new(pool.clone())),
        dlq_gate: Arc::new(DlqGate::new(pool.clone())),
        lookups: Arc::default(),
        event_writer: Arc::new(EventWriter::new(pool.clone(), config.ingest.event_queue)),
        backpressure: Arc::new(Backpressure::new(
            config.ingest,
            pool.clone(),
            herald_runtime::jetstream::context(nats.clone()),
            Topology::of(config),
        )),
        default_quotas: config.default_quotas,
        keyring: config.encryption_keys.clone().map(Arc::new),
    };
    let api = crate::api::service().server("/");
    let spec = api.spec_endpoint();
    let docs = api.swagger_ui();
    let route = Route::new()
        .nest("/", api)
        .at("/openapi.json", spec)
        .nest("/docs", docs);
    let route = crate::portal::routes(route);
    health::routes(route, Dependencies { pool, nats }, metrics.clone())
        .with(CatchPanic::new())
        .with(JsonErrors)
        .with(ThrottleFailedAuth(Arc::new(AuthFailures::new(
            config.auth_failure_limit,
            config.trusted_proxies.clone(),
        ))))
        .with(SecurityHeaders)
        .with(TraceRequests)
        .with(ObserveHttp(metrics))
        .data(state)
}
