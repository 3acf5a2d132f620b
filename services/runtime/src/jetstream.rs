//! Herald's JetStream topology, in one place for every service (and the operator):
//! - `<prefix>_DELIVERIES`: WorkQueue stream of delivery jobs on
//!   `<prefix>.deliveries.<tenant>.<webhook>` (bundles of an event's jobs on
//!   `<prefix>.deliveries.<tenant>.<event>`), one durable pull consumer per tenant
//!   (`tenant_<name>`, filtered on `<prefix>.deliveries.<tenant>.>`) whose `max_ack_pending`
//!   is the tenant's concurrency quota;
//! - `<prefix>_DEAD_LETTERS`: WorkQueue stream of dead-letter hand-offs from the dispatcher
//!   to the DLQ service on `<prefix>.dead_letters.<tenant>`;
//! - `<prefix>_ADVISORIES`: a Limits stream that captures JetStream's MAX_DELIVERIES and
//!   MSG_TERMINATED advisories about the deliveries stream, so the DLQ service misses none
//!   while it is down.
//!
//! Everything is created idempotently where missing.

use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::consumer::{AckPolicy, pull};
use async_nats::jetstream::stream::ConsumerErrorKind;
use async_nats::jetstream::stream::{self, RetentionPolicy, StorageType};
use async_nats::jetstream::{self, Context as JetStream};

/// Publishing the same message id within this window stores it once.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone)]
pub struct Topology {
    prefix: String,
    /// Copies of each stream in a NATS cluster (`HERALD_NATS_REPLICAS`).
    replicas: usize,
}

/// How a tenant's consumer is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerSettings {
    /// The tenant's `max_concurrent_deliveries`, across all dispatchers.
    pub max_ack_pending: i64,
    /// Longer than an attempt can take (delivery timeout plus the bookkeeping around it).
    pub ack_wait: Duration,
    /// Redeliveries before JetStream gives up on a job and raises a MAX_DELIVERIES advisory.
    /// The attempt count that matters lives in PostgreSQL; this is the crash-loop safety net.
    pub max_deliver: i64,
}

impl Topology {
    /// One copy of each stream: a single NATS server.
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            replicas: 1,
        }
    }

    /// The topology the configuration names: its prefix and its stream replicas.
    pub fn of(config: &crate::Config) -> Self {
        Self::new(&config.nats_prefix).with_replicas(config.nats_replicas)
    }

    pub fn with_replicas(mut self, replicas: usize) -> Self {
        self.replicas = replicas.max(1);
        self
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn deliveries_stream(&self) -> String {
        format!("{}_DELIVERIES", self.prefix)
    }

    pub fn dead_letters_stream(&self) -> String {
        format!("{}_DEAD_LETTERS", self.prefix)
    }

    pub fn advisories_stream(&self) -> String {
        format!("{}_ADVISORIES", self.prefix)
    }

    /// The advisory subjects JetStream publishes about the deliveries stream's consumers.
    pub fn advisory_subjects(&self) -> Vec<String> {
        let stream = self.deliveries_stream();
        ["MAX_DELIVERIES", "MSG_TERMINATED"]
            .iter()
            .map(|kind| format!("$JS.EVENT.ADVISORY.CONSUMER.{kind}.{stream}.*"))
            .collect()
    }

    /// Where ingest announces that a tenant changed (created, its status or quotas updated),
    /// once the change is stored and its consumer brought up to date. Core NATS, best effort:
    /// dispatchers also look on their own every discovery interval.
    pub fn tenant_changed_subject(&self) -> String {
        format!("{}.tenants.changed", self.prefix)
    }

    /// What makes a dispatcher look at the tenants again at once: ingest's announcement, and
    /// the advisories JetStream publishes when a consumer of the deliveries stream is created
    /// or deleted (by ingest or by the operator).
    pub fn tenant_change_subjects(&self) -> Vec<String> {
        let stream = self.deliveries_stream();
        let advisories = ["CREATED", "DELETED"]
            .iter()
            .map(|kind| format!("$JS.EVENT.ADVISORY.CONSUMER.{kind}.{stream}.*"));
        std::iter::once(self.tenant_changed_subject())
            .chain(advisories)
            .collect()
    }

    pub fn job_subject(&self, tenant: &str, webhook: &str) -> String {
        format!("{}.deliveries.{tenant}.{webhook}", self.prefix)
    }

    /// Where a bundle of an event's jobs goes: under the tenant's filter like a single job.
    pub fn bundle_subject(&self, tenant: &str, event: &str) -> String {
        format!("{}.deliveries.{tenant}.{event}", self.prefix)
    }

    pub fn tenant_filter(&self, tenant: &str) -> String {
        format!("{}.deliveries.{tenant}.>", self.prefix)
    }

    pub fn dead_letter_subject(&self, tenant: &str) -> String {
        format!("{}.dead_letters.{tenant}", self.prefix)
    }

    pub fn consumer_name(tenant: &str) -> String {
        format!("tenant_{tenant}")
    }

    /// The tenant a consumer serves, for consumers this topology names.
    pub fn tenant_of_consumer(name: &str) -> Option<&str> {
        name.strip_prefix("tenant_")
    }

    /// Creates `config`'s stream where missing; an existing one with another replica count
    /// is changed to this topology's (a cluster grown from one server to three, say).
    async fn ensure_stream(&self, js: &JetStream, config: stream::Config) -> anyhow::Result<()> {
        let name = config.name.clone();
        let config = stream::Config {
            num_replicas: self.replicas,
            ..config
        };
        let stream = js
            .get_or_create_stream(config)
            .await
            .with_context(|| format!("creating stream {name}"))?;
        // The answer to the lookup or the creation: no second round trip.
        let info = stream.cached_info();
        if info.config.num_replicas != self.replicas {
            tracing::info!(
                stream = %name,
                from = info.config.num_replicas,
                to = self.replicas,
                "changing the stream's replicas"
            );
            let changed = stream::Config {
                num_replicas: self.replicas,
                ..info.config.clone()
            };
            js.update_stream(changed)
                .await
                .with_context(|| format!("changing the replicas of stream {name}"))?;
        }
        Ok(())
    }

    /// Creates both streams where missing.
    pub async fn ensure_streams(&self, js: &JetStream) -> anyhow::Result<()> {
        for (name, subjects) in [
            (
                self.deliveries_stream(),
                format!("{}.deliveries.>", self.prefix),
            ),
            (
                self.dead_letters_stream(),
                format!("{}.dead_letters.>", self.prefix),
            ),
        ] {
            let config = stream::Config {
                name,
                subjects: vec![subjects],
                retention: RetentionPolicy::WorkQueue,
                storage: StorageType::File,
                duplicate_window: DUPLICATE_WINDOW,
                allow_direct: true,
                ..Default::default()
            };
            self.ensure_stream(js, config).await?;
        }
        Ok(())
    }

    /// The advisories stream (kept a week), created where missing.
    pub async fn ensure_advisories_stream(&self, js: &JetStream) -> anyhow::Result<()> {
        let config = stream::Config {
            name: self.advisories_stream(),
            subjects: self.advisory_subjects(),
            retention: RetentionPolicy::Limits,
            storage: StorageType::File,
            max_age: Duration::from_secs(7 * 24 * 3600),
            ..Default::default()
        };
        self.ensure_stream(js, config).await
    }

    /// A durable pull consumer of one of Herald's own services on `stream`.
    pub async fn ensure_service_consumer(
        &self,
        js: &JetStream,
        stream: &str,
        name: &str,
    ) -> anyhow::Result<async_nats::jetstream::consumer::PullConsumer> {
        let stream = js
            .get_stream(stream)
            .await
            .with_context(|| format!("looking up stream {stream}"))?;
        stream
            .get_or_create_consumer(
                name,
                pull::Config {
                    durable_name: Some(name.to_owned()),
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: Duration::from_secs(30),
                    ..Default::default()
                },
            )
            .await
            .with_context(|| format!("creating consumer {name}"))
    }

    /// Creates the tenant's consumer, or brings an existing one to `settings`.
    pub async fn ensure_tenant_consumer(
        &self,
        js: &JetStream,
        tenant: &str,
        settings: ConsumerSettings,
    ) -> anyhow::Result<()> {
        let stream = js
            .get_stream(self.deliveries_stream())
            .await
            .context("looking up the deliveries stream")?;
        let name = Self::consumer_name(tenant);
        let config = pull::Config {
            durable_name: Some(name.clone()),
            filter_subject: self.tenant_filter(tenant),
            ack_policy: AckPolicy::Explicit,
            ack_wait: settings.ack_wait,
            max_deliver: settings.max_deliver,
            max_ack_pending: settings.max_ack_pending,
            ..Default::default()
        };
        // On the servers we run, creating with an existing name updates the mutable fields.
        stream
            .create_consumer(config)
            .await
            .with_context(|| format!("creating consumer {name}"))?;
        Ok(())
    }
}

impl Topology {
    /// Deletes the tenant's consumer (a disabled tenant has none). Jobs already on its
    /// subjects stay in the WorkQueue stream for a consumer created later. A consumer or
    /// stream that is already gone counts as done.
    pub async fn delete_tenant_consumer(&self, js: &JetStream, tenant: &str) -> anyhow::Result<()> {
        let name = Self::consumer_name(tenant);
        match js
            .delete_consumer_from_stream(&name, self.deliveries_stream())
            .await
        {
            Ok(_) => Ok(()),
            Err(error) => match error.kind() {
                ConsumerErrorKind::JetStream(inner)
                    if [ErrorCode::CONSUMER_NOT_FOUND, ErrorCode::STREAM_NOT_FOUND]
                        .contains(&inner.error_code()) =>
                {
                    Ok(())
                }
                _ => Err(anyhow::Error::new(error).context(format!("deleting consumer {name}"))),
            },
        }
    }
}

/// The JetStream context of a connection.
pub fn context(client: async_nats::Client) -> JetStream {
    jetstream::new(client)
}
