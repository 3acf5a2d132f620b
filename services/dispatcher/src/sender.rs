//! Sending one attempt: through the pooled client of `http_client` (no redirects, no retries
//! of its own, no proxy), within the delivery timeout, reading at most a KiB of the answer,
//! and holding every attempt to the SSRF policy again (defence in depth beside the check at
//! registration): the port and an IP-literal host here (hyper never asks the resolver about
//! those), every resolution of a name in the client's resolver.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use herald_domain::AddressPolicy;
use herald_domain::classify::{AttemptResult, parse_retry_after};
use herald_runtime::resolve::{Lookup, ResolveError};
use http::header::{HeaderMap, HeaderValue, RETRY_AFTER, USER_AGENT};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::time::timeout_at;

use crate::http_client::{self, Client};
use crate::parsed_urls::{ParsedUrls, Target};

/// How much of a receiver's answer is kept with the attempt.
pub const RESPONSE_EXCERPT: usize = 1024;

const AGENT: &str = concat!("Herald-Webhooks/", env!("CARGO_PKG_VERSION"));

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
    client: Client,
    timeout: Duration,
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
        Ok(Self {
            client: http_client::build(timeout, policy.clone(), lookup, concurrency)?,
            timeout,
            policy,
            urls: Arc::default(),
        })
    }

    /// POSTs `body` to `url` with `headers`; never fails, every outcome is a report.
    pub async fn send(&self, url: &str, headers: HeaderMap, body: Vec<u8>) -> AttemptReport {
        let target = self.parse_url(url);
        self.send_to(url, target.as_deref(), headers, body).await
    }

    /// `url` parsed (from the cache of webhook URLs); `None` when it does not parse.
    pub fn parse_url(&self, url: &str) -> Option<Arc<Target>> {
        self.urls.parse(url)
    }

    /// `send`, with `url` already parsed by `parse_url`: once, for the policy and for the
    /// request. An unparsable URL fails the attempt with the reason.
    pub async fn send_to(
        &self,
        url: &str,
        target: Option<&Target>,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> AttemptReport {
        let started = Instant::now();
        let (result, response_excerpt) = match target {
            None => {
                let why = Target::invalid(url).unwrap_or_else(|| "invalid URL".to_owned());
                (AttemptResult::Connection(why), None)
            }
            Some(target) => match self.refuse_by_policy(&target.url) {
                Some(refused) => (refused, None),
                None => self.exchange(target.uri.clone(), headers, body).await,
            },
        };
        AttemptReport {
            result,
            duration: started.elapsed(),
            response_excerpt,
        }
    }

    /// The POST and the start of its answer, all within the delivery timeout.
    async fn exchange(
        &self,
        uri: Uri,
        mut headers: HeaderMap,
        body: Vec<u8>,
    ) -> (AttemptResult, Option<String>) {
        let deadline = tokio::time::Instant::now() + self.timeout;
        headers.insert(USER_AGENT, HeaderValue::from_static(AGENT));
        let mut request = Request::new(Full::new(Bytes::from(body)));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        let response = match timeout_at(deadline, self.client.request(request)).await {
            Err(_elapsed) => return (AttemptResult::Timeout, None),
            Ok(Err(error)) => return (failure(&error), None),
            Ok(Ok(response)) => response,
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        let excerpt = read_excerpt(response.into_body(), deadline).await;
        let result = AttemptResult::Response {
            status,
            retry_after,
        };
        (result, excerpt)
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

/// The first KiB of the body, read without waiting for (or buffering) the rest, and not past
/// the deadline. A short answer read to its end leaves the connection free for the next
/// attempt; one cut off closes it.
async fn read_excerpt(mut body: Incoming, deadline: tokio::time::Instant) -> Option<String> {
    let mut kept = Vec::new();
    while kept.len() < RESPONSE_EXCERPT {
        match timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    kept.extend_from_slice(data);
                }
            }
            Ok(None | Some(Err(_))) | Err(_) => break,
        }
    }
    kept.truncate(RESPONSE_EXCERPT);
    (!kept.is_empty()).then(|| String::from_utf8_lossy(&kept).into_owned())
}

/// What a failed request amounts to: a refusal or a lookup failure from the resolver, a
/// connection that took too long to open, or any other connection failure by its innermost
/// cause.
fn failure(error: &(dyn std::error::Error + 'static)) -> AttemptResult {
    let mut source = Some(error);
    let mut innermost = error;
    while let Some(cause) = source {
        match cause.downcast_ref::<ResolveError>() {
            Some(refused @ ResolveError::Refused { .. }) => {
                return AttemptResult::Forbidden(refused.to_string());
            }
            Some(dns @ ResolveError::Dns { .. }) => return AttemptResult::Dns(dns.to_string()),
            None => {}
        }
        if cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return AttemptResult::Timeout;
        }
        innermost = cause;
        source = cause.source();
    }
    AttemptResult::Connection(innermost.to_string())
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

    /// A TLS receiver on loopback whose certificate (for 127.0.0.1) is self-signed, trusted
    /// by nobody; counts the requests that got through a handshake.
    async fn untrusted_tls_receiver() -> (String, Arc<AtomicUsize>) {
        use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
        use tokio::io::AsyncReadExt;
        let issued = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let key =
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(issued.signing_key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![issued.cert.der().clone()], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}/", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, counter) = (acceptor.clone(), counter.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let mut first = [0; 1];
                    if tls.read(&mut first).await.unwrap_or(0) > 0 {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        (url, requests)
    }

    #[tokio::test]
    async fn a_receiver_whose_certificate_is_not_trusted_gets_nothing() {
        let policy = AddressPolicy::allowing(vec!["127.0.0.0/8".parse().unwrap()]);
        let (url, requests) = untrusted_tls_receiver().await;
        let report = sender(policy)
            .send(&url, HeaderMap::new(), b"{}".to_vec())
            .await;
        match &report.result {
            AttemptResult::Connection(why) => {
                assert_eq!(why, "invalid peer certificate: UnknownIssuer")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(requests.load(Ordering::SeqCst), 0);
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
