//! Sending one attempt: a pooled HTTP client that never follows redirects, never retries on
//! its own, goes through no proxy, enforces the delivery timeout, reads at most a KiB of the
//! answer, and holds every attempt to the SSRF policy again (defence in depth beside the
//! check at registration): the port, an IP-literal host (hyper never asks the resolver about
//! those), and every resolution of a name. The connector connects only to the addresses the
//! policy resolver returned, so a name cannot answer one address to the check and another to
//! the connection (DNS rebinding).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use herald_domain::AddressPolicy;
use herald_domain::classify::{AttemptResult, parse_retry_after};
use herald_runtime::resolve::{Lookup, ResolveError, permitted_addresses};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::HeaderMap;

use crate::parsed_urls::ParsedUrls;

/// How much of a receiver's answer is kept with the attempt.
pub const RESPONSE_EXCERPT: usize = 1024;

#[derive(Debug)]
pub struct AttemptReport {
    pub result: AttemptResult,
    pub duration: Duration,
    pub response_excerpt: Option<String>,
}

impl AttemptReport {
    pub fn status_code(&self) -> Option<u16> {
        match self.result {
            AttemptResult::Response { status, .. } => Some(status),
            _ => None,
        }
    }
}

#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    policy: Arc<AddressPolicy>,
    urls: Arc<ParsedUrls>,
}

impl Sender {
    /// `concurrency` is how many attempts the process runs at once: up to that many idle
    /// connections per host are kept, so when many webhooks share a host (one receiver
    /// behind a load balancer, a benchmark) every attempt reuses a connection instead of
    /// closing one and opening another.
    pub fn new(
        timeout: Duration,
        policy: Arc<AddressPolicy>,
        lookup: Arc<dyn Lookup>,
        concurrency: usize,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("Herald-Webhooks/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .retry(reqwest::retry::never())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(concurrency)
            .dns_resolver(Arc::new(PolicyResolver {
                policy: policy.clone(),
                lookup,
            }))
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            client,
            policy,
            urls: Arc::default(),
        })
    }

    /// POSTs `body` to `url` with `headers`; never fails, every outcome is a report.
    pub async fn send(&self, url: &str, headers: HeaderMap, body: Vec<u8>) -> AttemptReport {
        self.send_parsed(url, self.parse_url(url), headers, body)
            .await
    }

    /// `url` parsed (from the cache of webhook URLs); `None` when it does not parse.
    pub fn parse_url(&self, url: &str) -> Option<url::Url> {
        self.urls.parse(url)
    }

    /// `send`, with `url` already parsed by `parse_url`: once, for the policy and for the
    /// request. An unparsable URL goes to reqwest as given, which reports why.
    pub async fn send_parsed(
        &self,
        url: &str,
        parsed: Option<url::Url>,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> AttemptReport {
        let started = Instant::now();
        if let Some(refused) = parsed.as_ref().and_then(|url| self.refuse_by_policy(url)) {
            return AttemptReport {
                result: refused,
                duration: started.elapsed(),
                response_excerpt: None,
            };
        }
        let request = match parsed {
            Some(parsed) => self.client.post(parsed),
            None => self.client.post(url),
        };
        // The map goes in whole: `RequestBuilder::headers` would insert each header anew.
        let sent = match request.body(body).build() {
            Ok(mut request) => {
                *request.headers_mut() = headers;
                self.client.execute(request).await
            }
            Err(error) => Err(error),
        };
        let (result, response_excerpt) = match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, Utc::now()));
                let excerpt = read_excerpt(response).await;
                (
                    AttemptResult::Response {
                        status,
                        retry_after,
                    },
                    excerpt,
                )
            }
            Err(error) => (failure(&error), None),
        };
        AttemptReport {
            result,
            duration: started.elapsed(),
            response_excerpt,
        }
    }

    /// What can be judged before connecting: the port, internal host names, and IP-literal
    /// hosts, which hyper never hands to the resolver.
    fn refuse_by_policy(&self, parsed: &url::Url) -> Option<AttemptResult> {
        let port = parsed.port_or_known_default()?;
        if !self.policy.permits_port(port) {
            let allowed = self.policy.ports();
            let why = format!("port {port} is not allowed (allowed: {allowed})");
            return Some(AttemptResult::Forbidden(why));
        }
        let ip = match parsed.host()? {
            url::Host::Ipv4(v4) => IpAddr::V4(v4),
            url::Host::Ipv6(v6) => IpAddr::V6(v6),
            url::Host::Domain(name) if !self.policy.permits_host_name(name) => {
                let why = format!("{name} names an internal host");
                return Some(AttemptResult::Forbidden(why));
            }
            url::Host::Domain(_) => return None,
        };
        let refused = self.policy.check_ip(ip).err()?;
        Some(AttemptResult::Forbidden(refused.to_string()))
    }
}

/// The first KiB of the body, read without waiting for (or buffering) the rest.
async fn read_excerpt(mut response: reqwest::Response) -> Option<String> {
    let mut kept = Vec::new();
    while kept.len() < RESPONSE_EXCERPT {
        match response.chunk().await {
            Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    kept.truncate(RESPONSE_EXCERPT);
    (!kept.is_empty()).then(|| String::from_utf8_lossy(&kept).into_owned())
}

fn failure(error: &reqwest::Error) -> AttemptResult {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        match cause.downcast_ref::<ResolveError>() {
            Some(refused @ ResolveError::Refused { .. }) => {
                return AttemptResult::Forbidden(refused.to_string());
            }
            Some(dns @ ResolveError::Dns { .. }) => return AttemptResult::Dns(dns.to_string()),
            None => source = cause.source(),
        }
    }
    if error.is_timeout() {
        AttemptResult::Timeout
    } else {
        AttemptResult::Connection(innermost(error))
    }
}

fn innermost(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message = cause.to_string();
        source = cause.source();
    }
    message
}

/// Resolves through the lookup, then drops every address the policy forbids. What it returns
/// is all the connector ever sees: there is no second lookup.
struct PolicyResolver {
    policy: Arc<AddressPolicy>,
    lookup: Arc<dyn Lookup>,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let (policy, lookup) = (self.policy.clone(), self.lookup.clone());
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let permitted = permitted_addresses(lookup.as_ref(), &policy, &host).await?;
            let addrs = permitted.into_iter().map(|ip| SocketAddr::new(ip, 0));
            Ok(Box::new(addrs) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Every port allowed, so that these tests are about addresses (port 9 is closed here).
    fn sender(policy: AddressPolicy) -> Sender {
        sender_of(policy, 8)
    }

    fn sender_of(policy: AddressPolicy, concurrency: usize) -> Sender {
        let policy = policy.with_ports("1-65535".parse().unwrap());
        let lookup = herald_runtime::resolve::system();
        Sender::new(
            Duration::from_secs(2),
            Arc::new(policy),
            lookup,
            concurrency,
        )
        .unwrap()
    }

    /// A keep-alive HTTP/1.1 receiver that answers every request 200 after `delay`; counts
    /// the connections it accepted.
    async fn counting_receiver(delay: Duration) -> (String, Arc<AtomicUsize>) {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut stream = BufReader::new(stream);
                    loop {
                        let mut length = 0;
                        loop {
                            let mut line = String::new();
                            if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if let Some(value) =
                                line.to_ascii_lowercase().strip_prefix("content-length:")
                            {
                                length = value.trim().parse().unwrap_or(0);
                            }
                            if line == "\r\n" {
                                break;
                            }
                        }
                        let mut body = vec![0; length];
                        if stream.read_exact(&mut body).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(delay).await;
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                        if stream.get_mut().write_all(answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (url, accepted)
    }

    #[tokio::test]
    async fn a_busy_host_keeps_its_connections() {
        const CONCURRENCY: usize = 48;
        let policy = AddressPolicy::allowing(vec!["127.0.0.0/8".parse().unwrap()]);
        let sender = sender_of(policy, CONCURRENCY);
        let (url, accepted) = counting_receiver(Duration::from_millis(100)).await;
        for wave in 1..=3 {
            let attempts =
                (0..CONCURRENCY).map(|_| sender.send(&url, HeaderMap::new(), b"{}".to_vec()));
            for report in futures::future::join_all(attempts).await {
                assert_eq!(
                    report.status_code(),
                    Some(200),
                    "wave {wave}: {:?}",
                    report.result
                );
            }
        }
        // The first wave opened one connection per attempt; the later waves reused them all.
        assert_eq!(accepted.load(Ordering::SeqCst), CONCURRENCY);
    }

    #[tokio::test]
    async fn internal_ip_literals_are_refused_before_connecting() {
        let sender = sender(AddressPolicy::default());
        for url in [
            "http://127.0.0.1:9/",
            "http://[::ffff:127.0.0.1]:9/",
            "http://169.254.169.254/",
        ] {
            let report = sender.send(url, HeaderMap::new(), b"{}".to_vec()).await;
            assert!(
                matches!(report.result, AttemptResult::Forbidden(_)),
                "{url}: {:?}",
                report.result
            );
        }
    }

    #[tokio::test]
    async fn names_resolving_to_internal_addresses_are_refused() {
        // `localhost` resolves from /etc/hosts, without a network.
        let report = sender(AddressPolicy::default())
            .send("http://localhost:9/", HeaderMap::new(), b"{}".to_vec())
            .await;
        assert!(
            matches!(report.result, AttemptResult::Forbidden(_)),
            "{:?}",
            report.result
        );
    }

    #[tokio::test]
    async fn an_exempted_address_is_tried() {
        let policy = AddressPolicy::allowing(vec!["127.0.0.0/8".parse().unwrap()]);
        // Nothing listens on port 9 (discard): the connection is refused, not forbidden.
        let report = sender(policy)
            .send("http://127.0.0.1:9/", HeaderMap::new(), b"{}".to_vec())
            .await;
        assert!(
            matches!(report.result, AttemptResult::Connection(_)),
            "{:?}",
            report.result
        );
    }
}
