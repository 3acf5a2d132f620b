//! The pooled HTTP client attempts go through: hyper's client over a TCP connector whose every
//! name resolution passes the SSRF policy, with TLS by rustls verified against the platform's
//! roots (HTTP/2 where the receiver offers it). It follows no redirect, retries nothing on
//! its own and goes through no proxy, because it has none of those layers.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use herald_domain::AddressPolicy;
use herald_runtime::resolve::{Lookup, ResolveError, permitted_addresses};
use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// An attempt's body, sent whole.
pub type Body = Full<Bytes>;

pub type Client =
    hyper_util::client::legacy::Client<HttpsConnector<HttpConnector<PolicyResolver>>, Body>;

/// How long an idle keep-alive connection is kept.
const IDLE: Duration = Duration::from_secs(90);
/// TCP keep-alive probes on idle connections, so a receiver that vanished is noticed.
const TCP_KEEPALIVE: Duration = Duration::from_secs(15);
/// The longest a connection may take to open, whatever the delivery timeout.
const CONNECT_AT_MOST: Duration = Duration::from_secs(10);

/// `idle_per_host`: idle connections kept per receiver host (the process's concurrency, so
/// that many webhooks behind one host each reuse a connection).
pub fn build(
    timeout: Duration,
    policy: Arc<AddressPolicy>,
    lookup: Arc<dyn Lookup>,
    idle_per_host: usize,
) -> anyhow::Result<Client> {
    let mut tcp = HttpConnector::new_with_resolver(PolicyResolver { policy, lookup });
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_keepalive(Some(TCP_KEEPALIVE));
    tcp.set_connect_timeout(Some(timeout.min(CONNECT_AT_MOST)));
    let connector = HttpsConnectorBuilder::new()
        .with_tls_config(tls_config()?)
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(tcp);
    Ok(
        hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(IDLE)
            .pool_max_idle_per_host(idle_per_host)
            .build(connector),
    )
}

/// TLS 1.2 and 1.3 with the platform's verifier (the system's trust store), by *ring*: the
/// provider is named here, not taken from whichever the build happens to enable.
fn tls_config() -> anyhow::Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone())
        .context("loading the platform's certificate verifier")?;
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("choosing the TLS versions")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

/// Resolves through the lookup, then drops every address the policy forbids. What it returns
/// is all the connector ever sees: there is no second lookup, so a name cannot answer one
/// address to the check and another to the connection (DNS rebinding). IP-literal hosts never
/// reach it: the sender checks those before connecting.
#[derive(Clone)]
pub struct PolicyResolver {
    policy: Arc<AddressPolicy>,
    lookup: Arc<dyn Lookup>,
}

type Resolving =
    Pin<Box<dyn Future<Output = Result<std::vec::IntoIter<SocketAddr>, ResolveError>> + Send>>;

impl tower_service::Service<Name> for PolicyResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = ResolveError;
    type Future = Resolving;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ResolveError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Resolving {
        let (policy, lookup) = (self.policy.clone(), self.lookup.clone());
        Box::pin(async move {
            let permitted = permitted_addresses(lookup.as_ref(), &policy, name.as_str()).await?;
            let addresses: Vec<SocketAddr> = permitted
                .into_iter()
                .map(|ip| SocketAddr::new(ip, 0))
                .collect();
            Ok(addresses.into_iter())
        })
    }
}
