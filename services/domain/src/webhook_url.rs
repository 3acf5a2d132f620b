//! A webhook's target URL, parsed and checked once when a tenant registers it.

use std::fmt;
use std::net::IpAddr;

use url::{Host, Url};

use crate::ssrf::AddressPolicy;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookUrlError {
    #[error("url must be at most {max} characters", max = WebhookUrl::MAX_LEN)]
    TooLong,
    #[error("url is not a valid absolute URL: {0}")]
    Malformed(String),
    #[error("url scheme must be http or https")]
    Scheme,
    #[error("url must have a host")]
    NoHost,
    #[error("url must not contain credentials")]
    Credentials,
    #[error("url must not carry a fragment")]
    Fragment,
    #[error("url points at a private, loopback, link-local or otherwise internal address")]
    Internal,
}

/// An absolute http(s) URL with a host, no credentials, at most 2,048 characters, whose host
/// is not an internal address under the given policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(Url);

impl WebhookUrl {
    pub const MAX_LEN: usize = 2048;

    pub fn parse(raw: &str, policy: &AddressPolicy) -> Result<Self, WebhookUrlError> {
        if raw.len() > Self::MAX_LEN {
            return Err(WebhookUrlError::TooLong);
        }
        let url = Url::parse(raw).map_err(|e| WebhookUrlError::Malformed(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(WebhookUrlError::Scheme);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(WebhookUrlError::Credentials);
        }
        if url.fragment().is_some() {
            return Err(WebhookUrlError::Fragment);
        }
        let permitted = match url.host().ok_or(WebhookUrlError::NoHost)? {
            Host::Domain(name) => parse_numeric_host(name)
                .map(|ip| policy.permits_ip(ip))
                .unwrap_or_else(|| policy.permits_host_name(name)),
            Host::Ipv4(v4) => policy.permits_ip(v4.into()),
            Host::Ipv6(v6) => policy.permits_ip(v6.into()),
        };
        if !permitted {
            return Err(WebhookUrlError::Internal);
        }
        Ok(Self(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn as_url(&self) -> &Url {
        &self.0
    }
}

/// The url crate already turns decimal, octal and hex IPv4 spellings into `Host::Ipv4` for
/// special schemes; this catches any numeric form that stays a domain (e.g. a trailing dot).
fn parse_numeric_host(name: &str) -> Option<IpAddr> {
    name.trim_end_matches('.').parse().ok()
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<WebhookUrl, WebhookUrlError> {
        WebhookUrl::parse(raw, &AddressPolicy::default())
    }

    #[test]
    fn accepts_public_http_and_https() {
        for good in [
            "https://hooks.example.com/herald",
            "http://example.com:8080/a?b=c",
            "https://93.184.216.34/x",
            "https://[2606:4700::1111]/",
        ] {
            assert!(parse(good).is_ok(), "{good} refused");
        }
    }

    #[test]
    fn refuses_what_the_contract_forbids() {
        let long = format!("https://example.com/{}", "a".repeat(2048));
        let cases = [
            ("example.com/hook", "Malformed"),
            ("ftp://example.com/", "Scheme"),
            ("file:///etc/passwd", "Scheme"),
            ("https://user:pw@example.com/", "Credentials"),
            ("https://user@example.com/", "Credentials"),
            ("https://example.com/#frag", "Fragment"),
            (long.as_str(), "TooLong"),
            ("http://127.0.0.1:9000/", "Internal"),
            ("http://2130706433/", "Internal"),
            ("http://0x7f.1/", "Internal"),
            ("http://[::ffff:127.0.0.1]/", "Internal"),
            ("http://169.254.169.254/latest/meta-data", "Internal"),
            ("http://localhost:3000/", "Internal"),
            ("http://metadata.google.internal/", "Internal"),
            ("http://10.0.0.5/", "Internal"),
        ];
        for (raw, want) in cases {
            let err = parse(raw).expect_err(raw);
            assert!(format!("{err:?}").starts_with(want), "{raw}: {err:?}");
        }
    }

    #[test]
    fn exempted_loopback_is_accepted_in_development() {
        let policy = AddressPolicy::allowing(vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(WebhookUrl::parse("http://127.0.0.1:9000/hook", &policy).is_ok());
        assert!(WebhookUrl::parse("http://localhost:9000/hook", &policy).is_ok());
    }
}
