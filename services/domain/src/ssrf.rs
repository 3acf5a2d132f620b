//! Which addresses a webhook may point at. Receivers are on the public internet; anything
//! that reaches into Herald's own network (loopback, private ranges, link-local and cloud
//! metadata, carrier-grade NAT, reserved blocks) is refused unless an operator exempts it with
//! `HERALD_ALLOW_PRIVATE_CIDRS` (development and tests only). Ports are limited to an
//! allow-list (`HERALD_ALLOWED_PORTS`), so a webhook cannot talk to SSH or SMTP on a host.
//!
//! The same rules run at registration (the URL as written) and at delivery (every address a
//! name resolves to, and IP-literal hosts, which never reach a resolver).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::ports::PortList;

/// Host names that resolve to internal services on common clouds and hosts, and must never be
/// targets. Debian's /etc/hosts names loopback `ip6-localhost` and `ip6-loopback` too.
const FORBIDDEN_HOST_NAMES: &[&str] = &[
    "localhost",
    "localdomain",
    "ip6-localhost",
    "ip6-loopback",
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
];

/// Host-name suffixes that only ever name internal hosts: `.localhost` (RFC 6761), `.local`
/// (mDNS), `.internal` (reserved for private use by ICANN in 2024, never delegated publicly),
/// `.home.arpa` (RFC 8375), `.localdomain`, and Kubernetes' `.svc` / `.cluster.local`.
const FORBIDDEN_HOST_SUFFIXES: &[&str] = &[
    ".localhost",
    ".localdomain",
    ".local",
    ".internal",
    ".home.arpa",
    ".svc",
    ".cluster.local",
];

/// The blocked IPv4 ranges, most specific first: (network, prefix length, what it is).
const BLOCKED_V4: &[([u8; 4], u8, &str)] = &[
    ([0, 0, 0, 0], 8, "a \"this network\" address (0.0.0.0/8)"),
    ([10, 0, 0, 0], 8, "a private address (10.0.0.0/8)"),
    (
        [100, 64, 0, 0],
        10,
        "a carrier-grade NAT address (100.64.0.0/10)",
    ),
    ([127, 0, 0, 0], 8, "a loopback address (127.0.0.0/8)"),
    (
        [169, 254, 0, 0],
        16,
        "a link-local address (169.254.0.0/16, cloud metadata)",
    ),
    ([172, 16, 0, 0], 12, "a private address (172.16.0.0/12)"),
    (
        [192, 0, 0, 0],
        24,
        "an IETF protocol address (192.0.0.0/24)",
    ),
    ([192, 0, 2, 0], 24, "a documentation address (192.0.2.0/24)"),
    (
        [192, 88, 99, 0],
        24,
        "a 6to4 relay address (192.88.99.0/24)",
    ),
    ([192, 168, 0, 0], 16, "a private address (192.168.0.0/16)"),
    (
        [198, 18, 0, 0],
        15,
        "a benchmarking address (198.18.0.0/15)",
    ),
    (
        [198, 51, 100, 0],
        24,
        "a documentation address (198.51.100.0/24)",
    ),
    (
        [203, 0, 113, 0],
        24,
        "a documentation address (203.0.113.0/24)",
    ),
    ([224, 0, 0, 0], 4, "a multicast address (224.0.0.0/4)"),
    ([255, 255, 255, 255], 32, "the broadcast address"),
    ([240, 0, 0, 0], 4, "a reserved address (240.0.0.0/4)"),
];

/// The blocked IPv6 ranges. IPv4-mapped (`::ffff:0:0/96`), IPv4-compatible (`::/96`) and 6to4
/// (`2002::/16`) addresses are judged by the IPv4 address they carry, before this table.
const BLOCKED_V6: &[(u128, u8, &str)] = &[
    (0, 128, "the unspecified address (::)"),
    (1, 128, "the loopback address (::1)"),
    (
        0xffff << 48,
        96,
        "an IPv4-translated address (::ffff:0:0:0/96)",
    ),
    (0x0064_ff9b << 96, 96, "a NAT64 address (64:ff9b::/96)"),
    (
        0x0064_ff9b_0001 << 80,
        48,
        "a local NAT64 address (64:ff9b:1::/48)",
    ),
    (0x0100 << 112, 64, "a discard-only address (100::/64)"),
    (0x2001_0000 << 96, 32, "a Teredo address (2001::/32)"),
    (
        0x2001_0db8 << 96,
        32,
        "a documentation address (2001:db8::/32)",
    ),
    (0x3fff << 112, 20, "a documentation address (3fff::/20)"),
    (0xfc00 << 112, 7, "a unique local address (fc00::/7)"),
    (0xfe80 << 112, 10, "a link-local address (fe80::/10)"),
    (0xfec0 << 112, 10, "a site-local address (fec0::/10)"),
    (0xff00 << 112, 8, "a multicast address (ff00::/8)"),
];

/// Why an address is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedAddress {
    /// The address as given.
    pub ip: IpAddr,
    /// The IPv4 address it carries, when it is an IPv6 wrapping of one.
    pub carried: Option<Ipv4Addr>,
    /// The blocked range it falls in.
    pub range: &'static str,
}

impl fmt::Display for RefusedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.carried {
            Some(v4) => write!(f, "{} carries {v4}, {}", self.ip, self.range),
            None => write!(f, "{} is {}", self.ip, self.range),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    allowed: Vec<IpNet>,
    ports: PortList,
}

impl AddressPolicy {
    /// A policy that exempts the given networks from the block (none in production), with the
    /// default ports.
    pub fn allowing(allowed: Vec<IpNet>) -> Self {
        Self {
            allowed,
            ports: PortList::default(),
        }
    }

    /// The same policy, with these ports allowed instead.
    pub fn with_ports(self, ports: PortList) -> Self {
        Self { ports, ..self }
    }

    pub fn ports(&self) -> &PortList {
        &self.ports
    }

    pub fn permits_port(&self, port: u16) -> bool {
        self.ports.contains(port)
    }

    /// Whether a webhook may be delivered to this address, and if not, why.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), RefusedAddress> {
        let Some(refused) = blocked(ip) else {
            return Ok(());
        };
        let judged = refused.carried.map_or(ip, IpAddr::V4);
        let exempt = self
            .allowed
            .iter()
            .any(|net| net.contains(&judged) || net.contains(&ip));
        if exempt { Ok(()) } else { Err(refused) }
    }

    pub fn permits_ip(&self, ip: IpAddr) -> bool {
        self.check_ip(ip).is_ok()
    }

    /// Whether a host name (not an IP literal) may be a webhook's host. Names that are
    /// internal by construction are refused; everything else is checked again when resolved.
    pub fn permits_host_name(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let internal = FORBIDDEN_HOST_NAMES.contains(&host.as_str())
            || FORBIDDEN_HOST_SUFFIXES.iter().any(|s| host.ends_with(s));
        // An operator who exempts loopback for development also means `localhost`.
        let loopback_name = host == "localhost" || host.ends_with(".localhost");
        !internal || (loopback_name && self.permits_ip(Ipv4Addr::LOCALHOST.into()))
    }
}

/// The blocked range `ip` falls in, if any; IPv6 wrappings of IPv4 are judged by what they
/// carry.
fn blocked(ip: IpAddr) -> Option<RefusedAddress> {
    let v6 = match ip {
        IpAddr::V4(v4) => return blocked_v4(v4).map(|range| refused(ip, None, range)),
        IpAddr::V6(v6) => v6,
    };
    if let Some(v4) = carried_v4(v6) {
        return blocked_v4(v4).map(|range| refused(ip, Some(v4), range));
    }
    let bits = u128::from(v6);
    BLOCKED_V6
        .iter()
        .find(|(net, len, _)| within(bits, *net, *len, 128))
        .map(|(_, _, range)| refused(ip, None, range))
}

fn refused(ip: IpAddr, carried: Option<Ipv4Addr>, range: &'static str) -> RefusedAddress {
    RefusedAddress { ip, carried, range }
}

fn blocked_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let bits = u128::from(u32::from(ip));
    BLOCKED_V4
        .iter()
        .find(|(net, len, _)| within(bits, u128::from(u32::from_be_bytes(*net)), *len, 32))
        .map(|(_, _, range)| *range)
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`,
/// deprecated, but still routed by some stacks) or 6to4 (`2002:aabb:ccdd::`) address.
/// `::` and `::1` are not wrappings: they have entries of their own.
fn carried_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    if s[..6] == [0; 6] && u128::from(ip) > 1 {
        return Some(Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7])));
    }
    (s[0] == 0x2002).then(|| Ipv4Addr::from((u32::from(s[1]) << 16) | u32::from(s[2])))
}

/// Whether the top `len` of `width` bits of `bits` equal those of `net`.
fn within(bits: u128, net: u128, len: u8, width: u32) -> bool {
    let shift = width - u32::from(len);
    bits.checked_shr(shift).unwrap_or(0) == net.checked_shr(shift).unwrap_or(0)
}

#[cfg(test)]
mod tests;
