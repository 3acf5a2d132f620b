//! Which addresses a webhook may point at. Receivers are on the public internet; anything
//! that reaches into Herald's own network (loopback, private ranges, link-local and cloud
//! metadata, carrier-grade NAT, reserved blocks) is refused unless an operator exempts it with
//! `HERALD_ALLOW_PRIVATE_CIDRS` (development and tests only).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Host names that resolve to internal services on common clouds and must never be targets.
const FORBIDDEN_HOST_NAMES: &[&str] = &[
    "localhost",
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
    "kubernetes.default",
    "kubernetes.default.svc",
];

/// Host-name suffixes that only ever name internal hosts.
const FORBIDDEN_HOST_SUFFIXES: &[&str] = &[
    ".localhost",
    ".local",
    ".internal",
    ".svc",
    ".cluster.local",
];

#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    allowed: Vec<IpNet>,
}

impl AddressPolicy {
    /// A policy that exempts the given networks from the block (none in production).
    pub fn allowing(allowed: Vec<IpNet>) -> Self {
        Self { allowed }
    }

    /// Whether a webhook may be delivered to this address.
    pub fn permits_ip(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        !is_internal(ip) || self.allowed.iter().any(|net| net.contains(&ip))
    }

    /// Whether a host name (not an IP literal) may be a webhook's host. Names that are
    /// internal by construction are refused; everything else is checked again when resolved.
    pub fn permits_host_name(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let internal = FORBIDDEN_HOST_NAMES.contains(&host.as_str())
            || FORBIDDEN_HOST_SUFFIXES.iter().any(|s| host.ends_with(s));
        // An operator who exempts loopback for development also means `localhost`.
        !internal || (host == "localhost" && self.permits_ip(Ipv4Addr::LOCALHOST.into()))
    }
}

/// IPv4 addresses wrapped in IPv6 (`::ffff:a.b.c.d`) are judged as the IPv4 they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => is_internal_v6(v6),
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || a == 0 // 0.0.0.0/8 "this network"
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16, cloud metadata lives here
        || (a == 100 && (64..128).contains(&b)) // 100.64/10 carrier-grade NAT
        || (a == 192 && b == 0 && c == 0) // 192.0.0/24 IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // 198.18/15 benchmarking
        || ip.is_documentation()
        || ip.is_multicast()
        || a >= 240 // 240/4 reserved, and broadcast
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // fc00::/7 unique local
        || (first & 0xffc0) == 0xfe80 // fe80::/10 link-local
        || (first & 0xffc0) == 0xfec0 // fec0::/10 deprecated site-local
        || ip.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0] // 64:ff9b::/96 NAT64
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || ip.to_ipv4().is_some_and(|v4| ip.segments()[5] == 0 && is_internal_v4(v4)) // ::a.b.c.d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_refused() {
        let policy = AddressPolicy::default();
        for addr in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "100.64.0.1",
            "100.127.255.255",
            "198.18.0.1",
            "192.0.0.8",
            "192.0.2.1",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "64:ff9b::a00:1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "2001:db8::1",
            "ff02::1",
        ] {
            assert!(!policy.permits_ip(ip(addr)), "{addr} was permitted");
        }
    }

    #[test]
    fn public_addresses_are_permitted() {
        let policy = AddressPolicy::default();
        for addr in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
        ] {
            assert!(policy.permits_ip(ip(addr)), "{addr} was refused");
        }
    }

    #[test]
    fn exempted_networks_are_permitted() {
        let policy = AddressPolicy::allowing(vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(policy.permits_ip(ip("127.0.0.1")));
        assert!(policy.permits_ip(ip("::ffff:127.0.0.1")));
        assert!(!policy.permits_ip(ip("10.0.0.1")));
        assert!(policy.permits_host_name("localhost"));
    }

    #[test]
    fn internal_host_names_are_refused() {
        let policy = AddressPolicy::default();
        for host in [
            "localhost",
            "LOCALHOST.",
            "metadata.google.internal",
            "api.localhost",
            "printer.local",
            "db.default.svc.cluster.local",
        ] {
            assert!(!policy.permits_host_name(host), "{host} was permitted");
        }
        assert!(policy.permits_host_name("hooks.example.com"));
    }
}
