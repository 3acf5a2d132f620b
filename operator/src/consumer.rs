//! The tenant's JetStream consumer, as the operator checks and repairs it. Its settings are
//! the ones Herald's services use (`ConsumerSettings` from the same environment), so the
//! operator and ingest never pull a consumer two ways.

use async_nats::jetstream::context::ConsumerInfoErrorKind;
use async_nats::jetstream::{self, Context as JetStream};
use herald_runtime::jetstream::{ConsumerSettings, Topology};

/// What the consumer looks like now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerState {
    pub max_ack_pending: i64,
    pub ack_wait: std::time::Duration,
    pub max_deliver: i64,
    /// Jobs handed to a dispatcher and not yet acknowledged.
    pub ack_pending: u64,
    /// Jobs waiting to be handed out.
    pub pending: u64,
}

impl ConsumerState {
    pub fn matches(&self, settings: &ConsumerSettings) -> bool {
        self.max_ack_pending == settings.max_ack_pending
            && self.ack_wait == settings.ack_wait
            && self.max_deliver == settings.max_deliver
    }
}

#[derive(Clone)]
pub struct Consumers {
    js: JetStream,
    topology: Topology,
    /// `ack_wait` and `max_deliver`; `max_ack_pending` comes from each tenant's quota.
    defaults: ConsumerSettings,
}

impl Consumers {
    pub fn new(client: async_nats::Client, topology: Topology, defaults: ConsumerSettings) -> Self {
        Self {
            js: jetstream::new(client),
            topology,
            defaults,
        }
    }

    pub fn name(tenant: &str) -> String {
        Topology::consumer_name(tenant)
    }

    /// The settings the tenant's consumer should have.
    pub fn settings(&self, max_concurrent_deliveries: u64) -> ConsumerSettings {
        ConsumerSettings {
            max_ack_pending: i64::try_from(max_concurrent_deliveries).unwrap_or(i64::MAX),
            ..self.defaults
        }
    }

    /// The consumer as it is, or `None` when it (or the stream) does not exist.
    pub async fn state(&self, tenant: &str) -> anyhow::Result<Option<ConsumerState>> {
        let stream = match self.js.get_stream(self.topology.deliveries_stream()).await {
            Ok(stream) => stream,
            Err(e) if stream_missing(&e.kind()) => return Ok(None),
            Err(e) => return Err(anyhow::anyhow!("looking up the deliveries stream: {e}")),
        };
        let info = match stream.consumer_info(Self::name(tenant)).await {
            Ok(info) => info,
            Err(e) if matches!(e.kind(), ConsumerInfoErrorKind::NotFound) => return Ok(None),
            Err(e) => return Err(anyhow::anyhow!("reading the consumer of {tenant}: {e}")),
        };
        Ok(Some(ConsumerState {
            max_ack_pending: info.config.max_ack_pending,
            ack_wait: info.config.ack_wait,
            max_deliver: info.config.max_deliver,
            ack_pending: info.num_ack_pending as u64,
            pending: info.num_pending,
        }))
    }

    /// Creates the consumer (and the streams, where missing) or brings it to `settings`.
    pub async fn ensure(&self, tenant: &str, settings: ConsumerSettings) -> anyhow::Result<()> {
        self.topology.ensure_streams(&self.js).await?;
        self.topology
            .ensure_tenant_consumer(&self.js, tenant, settings)
            .await
    }

    /// Deletes the consumer; one already gone is fine. Jobs stay in the stream.
    pub async fn delete(&self, tenant: &str) -> anyhow::Result<()> {
        let stream = match self.js.get_stream(self.topology.deliveries_stream()).await {
            Ok(stream) => stream,
            Err(e) if stream_missing(&e.kind()) => return Ok(()),
            Err(e) => return Err(anyhow::anyhow!("looking up the deliveries stream: {e}")),
        };
        match stream.delete_consumer(&Self::name(tenant)).await {
            Ok(_) => Ok(()),
            Err(e) if consumer_missing(&e.kind()) => Ok(()),
            Err(e) => Err(anyhow::anyhow!("deleting the consumer of {tenant}: {e}")),
        }
    }
}

fn stream_missing(kind: &jetstream::context::GetStreamErrorKind) -> bool {
    matches!(kind, jetstream::context::GetStreamErrorKind::JetStream(e)
        if e.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND)
}

fn consumer_missing(kind: &jetstream::stream::ConsumerErrorKind) -> bool {
    matches!(kind, jetstream::stream::ConsumerErrorKind::JetStream(e)
        if e.error_code() == jetstream::ErrorCode::CONSUMER_NOT_FOUND)
}
