//! Two guards around the whole API:
//! - `ThrottleFailedAuth`: a client address that failed authentication (401) too often in a
//!   minute (`HERALD_AUTH_FAILURE_LIMIT`, default 30; 0 = no limit) is answered 429
//!   `too_many_failed_auth` without its credentials being looked at, until the minute is
//!   over; guessing keys costs a minute per `limit` guesses. Behind a proxy the client is
//!   the one its `X-Forwarded-For` names (`client_address`), so that one client's guesses do
//!   not lock out everyone who comes through the same proxy.
//! - `SecurityHeaders`: `nosniff`, no framing, no referrer, no caching of answers that may
//!   hold secrets, and a Content-Security-Policy that keeps the docs page to its own origin
//!   (the portal's stricter one is left in place).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use poem::http::{HeaderMap, HeaderValue, StatusCode, header};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};

use crate::error::ApiError;

const WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most; older windows are dropped first when it is reached.
const MAX_TRACKED: usize = 100_000;

pub struct AuthFailures {
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    /// Failed authentications allowed per client address and minute; 0 = no limit.
    limit: u32,
    /// The proxies whose `X-Forwarded-For` is believed (`HERALD_TRUSTED_PROXIES`).
    trusted_proxies: Vec<IpNet>,
}

impl AuthFailures {
    pub fn new(limit: u32, trusted_proxies: Vec<IpNet>) -> Self {
        Self {
            windows: Mutex::new(HashMap::new()),
            limit,
            trusted_proxies,
        }
    }

    /// How long `ip` must wait, when it is over the limit.
    fn blocked(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let (started, count) = *windows.get(&ip)?;
        let ends = started + WINDOW;
        (self.limit > 0 && count >= self.limit && now < ends).then(|| ends - now)
    }

    fn failed(&self, ip: IpAddr, now: Instant) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= MAX_TRACKED {
            windows.retain(|_, (started, _)| now < *started + WINDOW);
        }
        let entry = windows.entry(ip).or_insert((now, 0));
        if now >= entry.0 + WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }
}

pub struct ThrottleFailedAuth(pub Arc<AuthFailures>);

impl<E: Endpoint> Middleware<E> for ThrottleFailedAuth {
    type Output = ThrottleFailedAuthEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        ThrottleFailedAuthEndpoint {
            inner,
            failures: self.0.clone(),
        }
    }
}

pub struct ThrottleFailedAuthEndpoint<E> {
    inner: E,
    failures: Arc<AuthFailures>,
}

impl<E: Endpoint> Endpoint for ThrottleFailedAuthEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let trusted = &self.failures.trusted_proxies;
        let ip = req
            .remote_addr()
            .as_socket_addr()
            .map(|peer| client_address(peer.ip(), req.headers(), trusted));
        if let Some(wait) = ip.and_then(|ip| self.failures.blocked(ip, Instant::now())) {
            let message = "too many failed authentications from this address; wait and retry";
            return Err(ApiError::too_many("too_many_failed_auth", message, wait).into());
        }
        let response = self.inner.call(req).await?.into_response();
        if let (Some(ip), StatusCode::UNAUTHORIZED) = (ip, response.status()) {
            self.failures.failed(ip, Instant::now());
        }
        Ok(response)
    }
}

/// Who sent the request. The peer, unless it is a trusted proxy: then the proxies'
/// `X-Forwarded-For` chain is read from its end (the hop nearest to Herald) back, and the
/// first address that is not a trusted proxy is the client. Addresses left of it were written
/// by the client itself and prove nothing; an entry that is not an address ends the walk at
/// the proxy that passed it on.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            return client;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// An `X-Forwarded-For` entry: an address, with or without a port (`[v6]:port`, `v4:port`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
}

pub struct SecurityHeaders;

impl<E: Endpoint> Middleware<E> for SecurityHeaders {
    type Output = SecurityHeadersEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        SecurityHeadersEndpoint(inner)
    }
}

pub struct SecurityHeadersEndpoint<E>(E);

/// The docs page inlines its script and styles; it may load nothing from elsewhere.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

impl<E: Endpoint> Endpoint for SecurityHeadersEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let mut response = match self.0.call(req).await {
            Ok(output) => output.into_response(),
            Err(error) => error.into_response(),
        };
        let headers = response.headers_mut();
        for (name, value) in [
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
        ] {
            headers.insert(name, HeaderValue::from_static(value));
        }
        // The portal sets a stricter policy of its own.
        if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            );
        }
        if !headers.contains_key(header::CACHE_CONTROL) {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_blocked_after_the_limit_until_its_window_ends() {
        let failures = AuthFailures::new(30, Vec::new());
        let (ip, other): (IpAddr, IpAddr) = (
            "203.0.113.7".parse().unwrap(),
            "203.0.113.8".parse().unwrap(),
        );
        let start = Instant::now();
        for _ in 0..30 {
            assert_eq!(failures.blocked(ip, start), None);
            failures.failed(ip, start);
        }
        let wait = failures.blocked(ip, start + Duration::from_secs(10));
        assert_eq!(wait, Some(Duration::from_secs(50)));
        assert_eq!(
            failures.blocked(other, start),
            None,
            "other addresses are not affected"
        );
        assert_eq!(
            failures.blocked(ip, start + WINDOW),
            None,
            "the next window starts afresh"
        );
        failures.failed(ip, start + WINDOW);
        assert_eq!(failures.blocked(ip, start + WINDOW), None);
    }

    #[test]
    fn a_limit_of_zero_blocks_nobody() {
        let failures = AuthFailures::new(0, Vec::new());
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        let now = Instant::now();
        for _ in 0..100 {
            failures.failed(ip, now);
        }
        assert_eq!(failures.blocked(ip, now), None);
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let headers = forwarded(&["198.51.100.1"]);
        assert_eq!(
            client_address(ip("203.0.113.7"), &headers, &nets(&["10.0.0.0/8"])),
            ip("203.0.113.7")
        );
        assert_eq!(
            client_address(ip("10.0.0.2"), &headers, &[]),
            ip("10.0.0.2"),
            "no proxy is trusted unless configured"
        );
    }

    #[test]
    fn behind_trusted_proxies_the_client_is_the_last_untrusted_hop() {
        let trusted = nets(&["10.0.0.0/8", "fd00::/8"]);
        let peer = ip("10.0.0.2");
        // The client claims to be 192.0.2.1; the ingress saw 198.51.100.1, then a second
        // proxy inside the cluster appended the ingress.
        let chain = forwarded(&["192.0.2.1, 198.51.100.1, 10.0.0.9"]);
        assert_eq!(client_address(peer, &chain, &trusted), ip("198.51.100.1"));
        let split = forwarded(&["192.0.2.1", "198.51.100.1:4711, 10.0.0.9"]);
        assert_eq!(client_address(peer, &split, &trusted), ip("198.51.100.1"));
        let v6 = forwarded(&["[2001:db8::5]:443, fd00::3"]);
        assert_eq!(client_address(peer, &v6, &trusted), ip("2001:db8::5"));
    }

    #[test]
    fn a_chain_of_only_proxies_or_garbage_stops_at_the_last_address_known() {
        let trusted = nets(&["10.0.0.0/8"]);
        let peer = ip("10.0.0.2");
        assert_eq!(client_address(peer, &HeaderMap::new(), &trusted), peer);
        let proxies = forwarded(&["10.1.1.1, 10.0.0.9"]);
        assert_eq!(client_address(peer, &proxies, &trusted), ip("10.1.1.1"));
        let garbage = forwarded(&["198.51.100.1, unknown, 10.0.0.9"]);
        assert_eq!(client_address(peer, &garbage, &trusted), ip("10.0.0.9"));
    }
}
