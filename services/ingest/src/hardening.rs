//! Two guards around the whole API:
//! - `ThrottleFailedAuth`: a client address that failed authentication (401) too often in a
//!   minute (`HERALD_AUTH_FAILURE_LIMIT`, default 30; 0 = no limit) is answered 429 `too_many_failed_auth` without its credentials being looked at,
//!   until the minute is over; guessing keys costs a minute per `limit` guesses.
//! - `SecurityHeaders`: `nosniff`, no framing, no referrer, no caching of answers that may
//!   hold secrets, and a Content-Security-Policy that keeps the docs page to its own origin
//!   (the portal's stricter one is left in place).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use poem::http::{HeaderValue, StatusCode, header};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};

use crate::error::ApiError;

const WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most; older windows are dropped first when it is reached.
const MAX_TRACKED: usize = 100_000;

pub struct AuthFailures {
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    /// Failed authentications allowed per client address and minute; 0 = no limit.
    limit: u32,
}

impl AuthFailures {
    pub fn new(limit: u32) -> Self {
        Self {
            windows: Mutex::new(HashMap::new()),
            limit,
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
        let ip = req.remote_addr().as_socket_addr().map(|addr| addr.ip());
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
        let failures = AuthFailures::new(30);
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
        let failures = AuthFailures::new(0);
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        let now = Instant::now();
        for _ in 0..100 {
            failures.failed(ip, now);
        }
        assert_eq!(failures.blocked(ip, now), None);
    }
}
