//! The operator's settings: Herald's own environment (so consumer settings match what the
//! services use), plus where Herald's API and the operator's HTTP routes are.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use herald_domain::duration::parse_duration;
use herald_runtime::config::Config;
use herald_runtime::jetstream::ConsumerSettings;

#[derive(Debug, Clone)]
pub struct Settings {
    pub herald: Config,
    /// Herald's API, e.g. `http://herald-ingest:8080`.
    pub api_url: String,
    pub admin_token: String,
    /// `/healthz`, `/readyz` and `/metrics`.
    pub http_addr: SocketAddr,
    /// How often a Ready resource is looked at again (usage refresh, drift repair).
    pub resync: Duration,
    /// This replica's name in the leader lease (the pod name).
    pub identity: String,
    /// Where the lease lives (the operator's namespace).
    pub lease_namespace: String,
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let herald = Config::from_lookup(&lookup)?;
        let admin_token = herald
            .admin_token
            .clone()
            .context("HERALD_ADMIN_TOKEN or HERALD_ADMIN_TOKEN_FILE is required")?;
        let or = |name: &str, default: &str| lookup(name).unwrap_or_else(|| default.to_owned());
        let http_addr = or("HERALD_OPERATOR_ADDR", "0.0.0.0:8081");
        let resync = or("HERALD_OPERATOR_RESYNC", "60s");
        Ok(Self {
            api_url: or("HERALD_API_URL", "http://127.0.0.1:8080"),
            admin_token,
            http_addr: http_addr
                .parse()
                .with_context(|| format!("HERALD_OPERATOR_ADDR {http_addr:?} is not host:port"))?,
            resync: parse_duration(&resync).context("HERALD_OPERATOR_RESYNC")?,
            identity: lookup("POD_NAME")
                .or_else(|| lookup("HOSTNAME"))
                .unwrap_or_else(|| format!("herald-operator-{}", std::process::id())),
            lease_namespace: or("POD_NAMESPACE", "herald-system"),
            herald,
        })
    }

    pub fn consumer_defaults(&self) -> ConsumerSettings {
        consumer_defaults(&self.herald)
    }
}

/// Tenant consumer settings as Herald's services derive them from the same configuration.
pub fn consumer_defaults(herald: &Config) -> ConsumerSettings {
    ConsumerSettings {
        max_ack_pending: i64::from(herald.default_quotas.max_concurrent_deliveries),
        ack_wait: herald.ack_wait,
        max_deliver: herald.dispatch.max_deliver,
    }
}
