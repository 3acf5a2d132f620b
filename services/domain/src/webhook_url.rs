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
    /// The host is an internal address or name; the text says which and why.
    #[error("url host {0}; a webhook must point at a public address")]
    Internal(String),
    #[error("url port {port} is not allowed (allowed: {allowed})")]
    Port { port: u16, allowed: String },
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
        check_host(url.host().ok_or(WebhookUrlError::NoHost)?, policy)?;
        // http and https always have a known default port.
        let port = url.port_or_known_default().unwrap_or(0);
        if !policy.permits_port(port) {
            return Err(WebhookUrlError::Port {
                port,
                allowed: policy.ports().to_string(),
            });
        }
        Ok(Self(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn as_url(&self) -> &Url {
        &self.0
    }

    /// The host, when it is a name rather than an IP literal: what DNS would be asked.
    pub fn host_name(&self) -> Option<&str> {
        match self.0.host()? {
            Host::Domain(name) => Some(name),
            Host::Ipv4(_) | Host::Ipv6(_) => None,
        }
    }
}

/// The url crate (WHATWG parsing) already turns decimal, octal, hex and short IPv4 spellings,
/// percent-encoded and full-width digits into `Host::Ipv4`, and every IPv6 spelling into
/// `Host::Ipv6`; a numeric form that stays a domain is still read as an address here.
fn check_host(host: Host<&str>, policy: &AddressPolicy) -> Result<(), WebhookUrlError> {
    let ip: IpAddr = match host {
        Host::Ipv4(v4) => v4.into(),
        Host::Ipv6(v6) => v6.into(),
        Host::Domain(name) => match name.trim_end_matches('.').parse() {
            Ok(ip) => ip,
            Err(_) if policy.permits_host_name(name) => return Ok(()),
            Err(_) => {
                return Err(WebhookUrlError::Internal(format!(
                    "{name} names an internal host"
                )));
            }
        },
    };
    policy
        .check_ip(ip)
        .map_err(|refused| WebhookUrlError::Internal(refused.to_string()))
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

    /// Each spelling of an internal address, and what the refusal says it means.
    #[test]
    fn every_spelling_of_an_internal_address_is_refused() {
        for (raw, says) in [
            ("http://2130706433/", "127.0.0.1 is a loopback address"),
            ("http://0x7f000001/", "127.0.0.1 is a loopback address"),
            ("http://0177.0.0.1/", "127.0.0.1 is a loopback address"),
            ("http://127.1/", "127.0.0.1 is a loopback address"),
            ("http://0x7f.1/", "127.0.0.1 is a loopback address"),
            ("http://127.0.0.1./", "127.0.0.1 is a loopback address"),
            ("http://%31%32%37.0.0.1/", "127.0.0.1 is a loopback address"),
            (
                "http://\u{ff11}\u{ff12}\u{ff17}.0.0.1/",
                "127.0.0.1 is a loopback",
            ),
            (
                "http://[::ffff:127.0.0.1]/",
                "carries 127.0.0.1, a loopback",
            ),
            ("http://[::ffff:7f00:1]/", "carries 127.0.0.1, a loopback"),
            ("http://[0:0:0:0:0:ffff:7f00:0001]/", "carries 127.0.0.1"),
            ("http://[::127.0.0.1]/", "carries 127.0.0.1, a loopback"),
            ("http://[2002:7f00:1::]/", "carries 127.0.0.1, a loopback"),
            (
                "http://[::ffff:a9fe:a9fe]/",
                "carries 169.254.169.254, a link-local",
            ),
            ("http://0.0.0.0/", "0.0.0.0 is a \"this network\" address"),
            ("http://0/", "0.0.0.0 is a \"this network\" address"),
            ("http://[::]/", "the unspecified address"),
            ("http://[::1]:8080/", "the loopback address (::1)"),
            ("http://[fd00::1]/", "a unique local address"),
            ("http://[64:ff9b::7f00:1]/", "a NAT64 address"),
            ("http://100.100.100.200/", "carrier-grade NAT"),
            ("http://localhost./", "localhost. names an internal host"),
            ("http://LocalHost:3000/", "localhost names an internal host"),
            (
                "http://app.localhost/",
                "app.localhost names an internal host",
            ),
            ("http://metadata/", "metadata names an internal host"),
            (
                "http://instance-data./",
                "instance-data. names an internal host",
            ),
        ] {
            match parse(raw) {
                Err(WebhookUrlError::Internal(why)) => assert!(why.contains(says), "{raw}: {why}"),
                other => panic!("{raw}: {other:?}"),
            }
        }
    }

    #[test]
    fn ports_outside_the_allow_list_are_refused() {
        for good in [
            "http://example.com/",
            "https://example.com:8443/",
            "https://a.io:65535/",
        ] {
            assert!(parse(good).is_ok(), "{good} refused");
        }
        for (raw, port) in [
            ("https://example.com:22/", 22),
            ("http://example.com:25/", 25),
        ] {
            let err = parse(raw).expect_err(raw);
            assert_eq!(
                err.to_string(),
                format!("url port {port} is not allowed (allowed: 80,443,1024-65535)")
            );
        }
        let strict = AddressPolicy::default().with_ports("443".parse().unwrap());
        assert!(WebhookUrl::parse("https://example.com/", &strict).is_ok());
        let err = WebhookUrl::parse("http://example.com/", &strict).unwrap_err();
        assert_eq!(
            err,
            WebhookUrlError::Port {
                port: 80,
                allowed: "443".into()
            }
        );
    }

    #[test]
    fn exempted_loopback_is_accepted_in_development() {
        let policy = AddressPolicy::allowing(vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(WebhookUrl::parse("http://127.0.0.1:9000/hook", &policy).is_ok());
        assert!(WebhookUrl::parse("http://localhost:9000/hook", &policy).is_ok());
    }
}
