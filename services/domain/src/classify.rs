//! What an attempt's result means for the delivery, as the contract fixes it: any 2xx is
//! success; 410 Gone disables the webhook; 408, 429 and 5xx are transient, as are timeouts
//! and connection and DNS errors; every other status (including 3xx: redirects are never
//! followed) is permanent.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// The receiver answered. `retry_after` is its parsed `Retry-After`, if any.
    Response {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// No complete answer within the delivery timeout.
    Timeout,
    /// The connection could not be made or broke (refused, reset, TLS).
    Connection(String),
    /// The host name did not resolve.
    Dns(String),
    /// The target resolved only to addresses the SSRF policy forbids.
    Forbidden(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Success,
    /// Try again on the schedule; the receiver's `Retry-After` is honoured within bounds.
    Transient {
        retry_after: Option<Duration>,
    },
    /// Dead-letter now, without retries.
    Permanent,
    /// 410 Gone: dead-letter now and disable the webhook.
    Gone,
}

pub fn classify(result: &AttemptResult) -> Verdict {
    match result {
        AttemptResult::Response {
            status,
            retry_after,
        } => match status {
            200..=299 => Verdict::Success,
            410 => Verdict::Gone,
            408 | 429 | 500..=599 => Verdict::Transient {
                retry_after: (matches!(status, 429 | 503))
                    .then_some(*retry_after)
                    .flatten(),
            },
            _ => Verdict::Permanent,
        },
        AttemptResult::Timeout | AttemptResult::Connection(_) | AttemptResult::Dns(_) => {
            Verdict::Transient { retry_after: None }
        }
        // An address the policy forbids today may be permitted after an operator fixes DNS
        // or the policy; but retrying cannot change it on its own.
        AttemptResult::Forbidden(_) => Verdict::Permanent,
    }
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// A short description of an attempt's result for `last_error` and the attempt log.
pub fn describe(result: &AttemptResult) -> String {
    match result {
        AttemptResult::Response { status, .. } => format!("receiver answered HTTP {status}"),
        AttemptResult::Timeout => "timed out waiting for the receiver".to_owned(),
        AttemptResult::Connection(e) => format!("connection failed: {e}"),
        AttemptResult::Dns(e) => format!("DNS lookup failed: {e}"),
        AttemptResult::Forbidden(e) => format!("target refused by SSRF policy: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> Verdict {
        classify(&AttemptResult::Response {
            status,
            retry_after: Some(Duration::from_secs(7)),
        })
    }

    #[test]
    fn every_status_class_maps_as_the_contract_says() {
        for s in [200, 201, 202, 204, 299] {
            assert_eq!(status(s), Verdict::Success, "{s}");
        }
        assert_eq!(status(410), Verdict::Gone);
        for s in [
            300, 301, 302, 307, 308, 400, 401, 403, 404, 405, 409, 413, 422, 451, 499,
        ] {
            assert_eq!(status(s), Verdict::Permanent, "{s}");
        }
        for s in [408, 500, 502, 504, 599] {
            assert_eq!(status(s), Verdict::Transient { retry_after: None }, "{s}");
        }
        for s in [429, 503] {
            let want = Verdict::Transient {
                retry_after: Some(Duration::from_secs(7)),
            };
            assert_eq!(status(s), want, "{s} keeps its Retry-After");
        }
        for s in [100, 101, 199] {
            assert_eq!(status(s), Verdict::Permanent, "{s}");
        }
    }

    #[test]
    fn network_failures_are_transient_and_forbidden_targets_permanent() {
        let transient = Verdict::Transient { retry_after: None };
        assert_eq!(classify(&AttemptResult::Timeout), transient);
        assert_eq!(
            classify(&AttemptResult::Connection("reset".into())),
            transient
        );
        assert_eq!(classify(&AttemptResult::Dns("nxdomain".into())), transient);
        assert_eq!(
            classify(&AttemptResult::Forbidden("10.0.0.1".into())),
            Verdict::Permanent
        );
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let now = DateTime::parse_from_rfc3339("2026-11-29T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 29 Nov 2026 10:01:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Sun, 29 Nov 2026 09:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
