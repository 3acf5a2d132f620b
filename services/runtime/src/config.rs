//! Settings from the environment, as the contract lists them. Every secret-bearing setting
//! also has a `*_FILE` variant (Kubernetes Secret mounts, Vault agent).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use herald_domain::duration::{format_duration, parse_duration, parse_duration_list};
use herald_domain::{AddressPolicy, PortList, QuotaLimits};
use ipnet::IpNet;

use crate::resolve::{self, Lookup};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Clone)]
pub struct Config {
    pub database_url: String,
    pub nats_url: String,
    pub nats_prefix: String,
    /// How many NATS servers hold a copy of each of Herald's streams (`HERALD_NATS_REPLICAS`,
    /// 1 to 5): 3 in a three-server cluster, so a stream keeps working while one is down.
    pub nats_replicas: usize,
    /// TLS to NATS beyond what a `tls://` URL and the system's roots give.
    pub nats_tls: NatsTls,
    pub api_addr: SocketAddr,
    pub admin_token: Option<String>,
    /// Seals webhook secrets at rest (`HERALD_ENCRYPTION_KEY` / `_FILE`); none: stored as given.
    pub encryption_keys: Option<herald_domain::sealing::Keyring>,
    pub retry_schedule: Vec<Duration>,
    pub delivery_timeout: Duration,
    /// How long JetStream waits for word of a job, and how long a dispatcher's claim on a
    /// delivery holds, before another dispatcher may take it (`HERALD_ACK_WAIT`). A job in
    /// progress renews both every third of it, however long its attempt takes, so this bounds
    /// how long a crashed dispatcher's jobs wait, not how long an attempt may take.
    pub ack_wait: Duration,
    pub allow_private_cidrs: Vec<IpNet>,
    /// The ports a webhook may use (`HERALD_ALLOWED_PORTS`).
    pub allowed_ports: PortList,
    pub log_format: LogFormat,
    /// Where traces go (OTLP over HTTP, protobuf); `None` exports nothing.
    pub otlp_endpoint: Option<String>,
    /// The quotas a new tenant starts with (`HERALD_DEFAULT_QUOTAS` over the built-in ones).
    pub default_quotas: QuotaLimits,
    pub dispatch: DispatchLimits,
    pub ingest: IngestLimits,
    /// Failed authentications per client address and minute before it gets 429s; 0 = no limit.
    pub auth_failure_limit: u32,
    /// Proxies in front of the API (`HERALD_TRUSTED_PROXIES`): a request from one of them is
    /// from the client its `X-Forwarded-For` names, not from the proxy.
    pub trusted_proxies: Vec<IpNet>,
    /// How webhook host names are resolved for the SSRF checks: the system resolver; tests
    /// put a script here (never a setting).
    pub dns: Arc<dyn Lookup>,
}

/// PEM files for TLS to NATS. With any of them the connection must be TLS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatsTls {
    /// The CA that signed the servers' certificates (`HERALD_NATS_TLS_CA`), beside the
    /// system's roots.
    pub ca: Option<PathBuf>,
    /// This client's certificate and key (`HERALD_NATS_TLS_CERT`, `HERALD_NATS_TLS_KEY`),
    /// for servers that verify their clients.
    pub client: Option<(PathBuf, PathBuf)>,
}

impl NatsTls {
    pub fn is_set(&self) -> bool {
        self.ca.is_some() || self.client.is_some()
    }

    /// Every file named, with the setting that names it.
    pub fn files(&self) -> Vec<(&'static str, &std::path::Path)> {
        let mut files = Vec::new();
        if let Some(ca) = &self.ca {
            files.push(("HERALD_NATS_TLS_CA", ca.as_path()));
        }
        if let Some((cert, key)) = &self.client {
            files.push(("HERALD_NATS_TLS_CERT", cert.as_path()));
            files.push(("HERALD_NATS_TLS_KEY", key.as_path()));
        }
        files
    }
}

/// How hard one dispatcher process works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DispatchLimits {
    /// Attempts in flight in one process, all tenants together.
    pub process_concurrency: usize,
    /// Attempts in flight to one webhook in one process: a slow webhook cannot take all of
    /// its tenant's concurrency.
    pub webhook_concurrency: usize,
    /// JetStream redeliveries of one job before the MAX_DELIVERIES safety net fires.
    pub max_deliver: i64,
}

/// How much ingest lets pile up before `POST /events` answers 503 (see docs/design.md,
/// "Backpressure").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestLimits {
    /// Events waiting for their batch write (`HERALD_EVENT_QUEUE`).
    pub event_queue: usize,
    /// Deliveries stored but not yet confirmed on JetStream (`HERALD_MAX_OUTBOX_BACKLOG`).
    pub max_outbox_backlog: u64,
    /// A tenant's messages on JetStream not yet taken by a dispatcher
    /// (`HERALD_MAX_TENANT_BACKLOG`); a bundle of an event's jobs counts once.
    pub max_tenant_backlog: u64,
    /// The most jobs of one event a message carries (`HERALD_BUNDLE_JOBS`); 1: a message
    /// per delivery, which keeps a tenant's concurrency quota exact across dispatchers.
    pub bundle_jobs: usize,
}

/// Below this, a job's renewals (every third of the ack wait) would be a steady load.
const MIN_ACK_WAIT: Duration = Duration::from_secs(1);

impl Config {
    /// How often a job in progress renews its ack wait and its claim.
    pub fn heartbeat(&self) -> Duration {
        self.ack_wait / 3
    }

    /// The SSRF rules webhooks are held to, at registration and at delivery.
    pub fn address_policy(&self) -> AddressPolicy {
        AddressPolicy::allowing(self.allow_private_cidrs.clone())
            .with_ports(self.allowed_ports.clone())
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("nats_url", &crate::nats::redact(&self.nats_url))
            .field("nats_prefix", &self.nats_prefix)
            .field("nats_replicas", &self.nats_replicas)
            .field("nats_tls", &self.nats_tls)
            .field("api_addr", &self.api_addr)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<set>"))
            .field("encryption_keys", &self.encryption_keys)
            .field("retry_schedule", &self.retry_schedule)
            .field("delivery_timeout", &self.delivery_timeout)
            .field("ack_wait", &self.ack_wait)
            .field("allow_private_cidrs", &self.allow_private_cidrs)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("allowed_ports", &self.allowed_ports.to_string())
            .field("log_format", &self.log_format)
            .field("otlp_endpoint", &self.otlp_endpoint)
            .field("default_quotas", &self.default_quotas)
            .finish_non_exhaustive()
    }
}

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/herald";

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds the configuration from any variable source, so tests need not touch the process
    /// environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let get = |name: &str| setting(&lookup, name);
        let path = |name: &str| {
            lookup(name)
                .filter(|value| !value.trim().is_empty())
                .map(PathBuf::from)
        };
        let or = |name: &str, default: &str| -> anyhow::Result<String> {
            Ok(get(name)?.unwrap_or_else(|| default.to_owned()))
        };
        let api_addr = or("HERALD_API_ADDR", "127.0.0.1:8080")?;
        let retry = or("HERALD_RETRY_SCHEDULE", "1s,4s,16s,64s,256s")?;
        let timeout = or("HERALD_DELIVERY_TIMEOUT", "15s")?;
        let ack_wait = or("HERALD_ACK_WAIT", "10s")?;
        Ok(Self {
            database_url: or("DATABASE_URL", DEFAULT_DATABASE_URL)?,
            nats_url: or("NATS_URL", "nats://127.0.0.1:4222")?,
            nats_prefix: parse_prefix(&or("HERALD_NATS_PREFIX", "herald")?)?,
            nats_replicas: parse_replicas(positive(&get, "HERALD_NATS_REPLICAS", 1)?)?,
            nats_tls: NatsTls {
                ca: path("HERALD_NATS_TLS_CA"),
                client: match (path("HERALD_NATS_TLS_CERT"), path("HERALD_NATS_TLS_KEY")) {
                    (Some(cert), Some(key)) => Some((cert, key)),
                    (None, None) => None,
                    _ => bail!("HERALD_NATS_TLS_CERT and HERALD_NATS_TLS_KEY go together"),
                },
            },
            api_addr: api_addr
                .parse()
                .with_context(|| format!("HERALD_API_ADDR {api_addr:?} is not host:port"))?,
            admin_token: get("HERALD_ADMIN_TOKEN")?.filter(|t| !t.is_empty()),
            encryption_keys: get("HERALD_ENCRYPTION_KEY")?
                .map(|keys| herald_domain::sealing::Keyring::parse(&keys))
                .transpose()
                .context("HERALD_ENCRYPTION_KEY")?,
            retry_schedule: parse_duration_list(&retry).context("HERALD_RETRY_SCHEDULE")?,
            delivery_timeout: parse_duration(&timeout).context("HERALD_DELIVERY_TIMEOUT")?,
            ack_wait: parse_ack_wait(&ack_wait)?,
            allow_private_cidrs: parse_cidrs(
                "HERALD_ALLOW_PRIVATE_CIDRS",
                &or("HERALD_ALLOW_PRIVATE_CIDRS", "")?,
            )?,
            allowed_ports: or("HERALD_ALLOWED_PORTS", PortList::DEFAULT)?
                .parse()
                .context("HERALD_ALLOWED_PORTS")?,
            log_format: match or("HERALD_LOG_FORMAT", "json")?.as_str() {
                "json" => LogFormat::Json,
                "pretty" => LogFormat::Pretty,
                other => bail!("HERALD_LOG_FORMAT must be json or pretty, not {other:?}"),
            },
            otlp_endpoint: get("OTEL_EXPORTER_OTLP_ENDPOINT")?.filter(|e| !e.trim().is_empty()),
            default_quotas: QuotaLimits::default()
                .with_overrides(&or("HERALD_DEFAULT_QUOTAS", "")?)
                .map_err(|e| anyhow::anyhow!("HERALD_DEFAULT_QUOTAS: {e}"))?,
            auth_failure_limit: match get("HERALD_AUTH_FAILURE_LIMIT")? {
                None => 30,
                Some(raw) => raw.trim().parse().with_context(|| {
                    format!("HERALD_AUTH_FAILURE_LIMIT must be a whole number, not {raw:?}")
                })?,
            },
            trusted_proxies: parse_cidrs(
                "HERALD_TRUSTED_PROXIES",
                &or("HERALD_TRUSTED_PROXIES", "")?,
            )?,
            dispatch: DispatchLimits {
                process_concurrency: positive(&get, "HERALD_DISPATCHER_CONCURRENCY", 256)?,
                webhook_concurrency: positive(&get, "HERALD_WEBHOOK_CONCURRENCY", 10)?,
                max_deliver: positive(&get, "HERALD_MAX_DELIVER", 100)?,
            },
            ingest: IngestLimits {
                event_queue: positive(&get, "HERALD_EVENT_QUEUE", 10_000)?,
                max_outbox_backlog: positive(&get, "HERALD_MAX_OUTBOX_BACKLOG", 100_000)?,
                max_tenant_backlog: positive(&get, "HERALD_MAX_TENANT_BACKLOG", 100_000)?,
                bundle_jobs: positive(&get, "HERALD_BUNDLE_JOBS", 16)?,
            },
            dns: resolve::system(),
        })
    }
}

/// `NAME` if set, else the trimmed contents of the file named by `NAME_FILE`.
fn setting(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> anyhow::Result<Option<String>> {
    if let Some(value) = lookup(name) {
        return Ok(Some(value));
    }
    let Some(path) = lookup(&format!("{name}_FILE")) else {
        return Ok(None);
    };
    let contents =
        std::fs::read_to_string(&path).with_context(|| format!("reading {name}_FILE {path:?}"))?;
    Ok(Some(contents.trim().to_owned()))
}

fn positive<T: std::str::FromStr + PartialOrd + Default>(
    get: &impl Fn(&str) -> anyhow::Result<Option<String>>,
    name: &str,
    default: T,
) -> anyhow::Result<T> {
    let Some(raw) = get(name)? else {
        return Ok(default);
    };
    match raw.trim().parse::<T>() {
        Ok(value) if value > T::default() => Ok(value),
        _ => bail!("{name} must be a positive whole number, not {raw:?}"),
    }
}

fn parse_ack_wait(raw: &str) -> anyhow::Result<Duration> {
    let ack_wait = parse_duration(raw).context("HERALD_ACK_WAIT")?;
    if ack_wait < MIN_ACK_WAIT {
        bail!(
            "HERALD_ACK_WAIT must be at least {}, not {raw:?}",
            format_duration(MIN_ACK_WAIT)
        );
    }
    Ok(ack_wait)
}

/// JetStream keeps at most five copies of a stream.
fn parse_replicas(replicas: usize) -> anyhow::Result<usize> {
    if replicas > 5 {
        bail!("HERALD_NATS_REPLICAS must be between 1 and 5, not {replicas}");
    }
    Ok(replicas)
}

/// The prefix becomes a token of NATS subjects and part of stream names.
fn parse_prefix(raw: &str) -> anyhow::Result<String> {
    let valid = !raw.is_empty()
        && raw.len() <= 32
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid {
        bail!("HERALD_NATS_PREFIX must be 1 to 32 characters of letters, digits, '_' and '-'");
    }
    Ok(raw.to_owned())
}

/// A comma-separated list of CIDRs; a bare address is a network of one.
fn parse_cidrs(name: &str, raw: &str) -> anyhow::Result<Vec<IpNet>> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .with_context(|| format!("{name}: {s:?} is not a CIDR"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> anyhow::Result<Config> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_follow_the_contract() {
        let c = config(&[]).unwrap();
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(c.nats_url, "nats://127.0.0.1:4222");
        assert_eq!(c.nats_prefix, "herald");
        assert_eq!(c.nats_replicas, 1);
        assert_eq!(c.api_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.admin_token, None);
        assert_eq!(c.retry_schedule.len(), 5);
        assert_eq!(c.delivery_timeout, Duration::from_secs(15));
        assert_eq!(c.ack_wait, Duration::from_secs(10));
        assert!(c.allow_private_cidrs.is_empty());
        assert_eq!(c.allowed_ports.to_string(), "80,443,1024-65535");
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.default_quotas, herald_domain::QuotaLimits::default());
        assert_eq!(c.otlp_endpoint, None);
    }

    #[test]
    fn default_quotas_are_set_by_name() {
        let c = config(&[(
            "HERALD_DEFAULT_QUOTAS",
            "events_per_second=500,max_webhooks=7",
        )]);
        let quotas = c.unwrap().default_quotas;
        assert_eq!((quotas.events_per_second, quotas.max_webhooks), (500, 7));
    }

    #[test]
    fn secrets_come_from_files() {
        let dir = std::env::temp_dir().join(format!("herald-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "s3cret\n").unwrap();
        let c = config(&[("HERALD_ADMIN_TOKEN_FILE", file.to_str().unwrap())]).unwrap();
        assert_eq!(c.admin_token.as_deref(), Some("s3cret"));
        // The database URL (with its password) and the encryption keys, the same way.
        let url = dir.join("database-url");
        std::fs::write(&url, "postgres://herald:pw@db:5432/herald\n").unwrap();
        let keys = dir.join("keys");
        let key = herald_domain::sealing::Keyring::generate_key();
        std::fs::write(&keys, format!("# newest first\n{key}\n")).unwrap();
        let c = config(&[
            ("DATABASE_URL_FILE", url.to_str().unwrap()),
            ("HERALD_ENCRYPTION_KEY_FILE", keys.to_str().unwrap()),
        ])
        .unwrap();
        assert_eq!(c.database_url, "postgres://herald:pw@db:5432/herald");
        assert!(c.encryption_keys.is_some());
        assert!(
            !format!("{c:?}").contains("pw@"),
            "Debug hides the password: {c:?}"
        );
        let missing = config(&[("HERALD_ADMIN_TOKEN_FILE", "/nonexistent/token")]);
        assert!(
            missing
                .unwrap_err()
                .to_string()
                .contains("HERALD_ADMIN_TOKEN_FILE")
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("HERALD_API_ADDR", "localhost"),
            ("HERALD_RETRY_SCHEDULE", "1s,soon"),
            ("HERALD_DELIVERY_TIMEOUT", "15"),
            ("HERALD_ACK_WAIT", "10"),
            ("HERALD_ACK_WAIT", "500ms"),
            ("HERALD_ALLOW_PRIVATE_CIDRS", "127.0.0.1/33"),
            ("HERALD_TRUSTED_PROXIES", "10.0.0.0/8, proxy"),
            ("HERALD_ALLOWED_PORTS", "443,ssh"),
            ("HERALD_LOG_FORMAT", "xml"),
            ("HERALD_NATS_PREFIX", "a.b"),
            ("HERALD_NATS_REPLICAS", "0"),
            ("HERALD_NATS_REPLICAS", "6"),
            ("HERALD_NATS_TLS_CERT", "/etc/herald/nats.crt"),
            ("HERALD_NATS_TLS_KEY", "/etc/herald/nats.key"),
            ("HERALD_WEBHOOK_CONCURRENCY", "0"),
            ("HERALD_MAX_DELIVER", "lots"),
            ("HERALD_DEFAULT_QUOTAS", "burst=0"),
        ] {
            let err = format!("{:#}", config(&[(name, value)]).unwrap_err());
            assert!(err.contains(name), "{name}: {err}");
        }
    }

    #[test]
    fn nats_tls_files_are_paths_and_a_certificate_comes_with_its_key() {
        assert!(!config(&[]).unwrap().nats_tls.is_set());
        let c = config(&[
            ("HERALD_NATS_TLS_CA", "/etc/nats-ca/ca.crt"),
            ("HERALD_NATS_TLS_CERT", "/etc/nats-client/tls.crt"),
            ("HERALD_NATS_TLS_KEY", "/etc/nats-client/tls.key"),
        ])
        .unwrap();
        assert_eq!(c.nats_tls.ca, Some("/etc/nats-ca/ca.crt".into()));
        assert_eq!(
            c.nats_tls.client,
            Some((
                "/etc/nats-client/tls.crt".into(),
                "/etc/nats-client/tls.key".into()
            ))
        );
        let only_ca = config(&[("HERALD_NATS_TLS_CA", "/etc/nats-ca/ca.crt")]).unwrap();
        assert!(only_ca.nats_tls.is_set() && only_ca.nats_tls.client.is_none());
    }

    #[test]
    fn private_cidrs_parse_as_a_list() {
        let c = config(&[("HERALD_ALLOW_PRIVATE_CIDRS", "127.0.0.0/8, ::1/128")]).unwrap();
        assert_eq!(c.allow_private_cidrs.len(), 2);
    }

    #[test]
    fn trusted_proxies_take_networks_and_single_addresses() {
        assert!(config(&[]).unwrap().trusted_proxies.is_empty());
        let c = config(&[("HERALD_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7, fd00::1")]).unwrap();
        let proxies: Vec<String> = c.trusted_proxies.iter().map(|n| n.to_string()).collect();
        assert_eq!(proxies, ["10.0.0.0/8", "192.0.2.7/32", "fd00::1/128"]);
    }

    #[test]
    fn allowed_ports_parse_as_ports_and_ranges() {
        let c = config(&[("HERALD_ALLOWED_PORTS", "443, 8000-8999")]).unwrap();
        let policy = c.address_policy();
        assert!(policy.permits_port(443) && policy.permits_port(8500));
        assert!(!policy.permits_port(80) && !policy.permits_port(9000));
        let err = format!("{:#}", config(&[("HERALD_ALLOWED_PORTS", "")]).unwrap_err());
        assert!(err.contains("HERALD_ALLOWED_PORTS"), "{err}");
    }
}
