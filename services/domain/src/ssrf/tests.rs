use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn range_of(addr: &str) -> Option<&'static str> {
    AddressPolicy::default()
        .check_ip(ip(addr))
        .err()
        .map(|r| r.range)
}

#[test]
fn every_blocked_range_is_refused_with_its_name() {
    for (addr, range) in [
        ("0.0.0.0", "0.0.0.0/8"),
        ("0.1.2.3", "0.0.0.0/8"),
        ("10.1.2.3", "10.0.0.0/8"),
        ("100.64.0.1", "100.64.0.0/10"),
        ("100.127.255.255", "100.64.0.0/10"),
        ("127.0.0.1", "127.0.0.0/8"),
        ("127.8.9.10", "127.0.0.0/8"),
        ("169.254.169.254", "169.254.0.0/16"),
        ("172.16.0.1", "172.16.0.0/12"),
        ("172.31.255.255", "172.16.0.0/12"),
        ("192.0.0.8", "192.0.0.0/24"),
        ("192.0.2.1", "192.0.2.0/24"),
        ("192.88.99.1", "192.88.99.0/24"),
        ("192.168.1.1", "192.168.0.0/16"),
        ("198.18.0.1", "198.18.0.0/15"),
        ("198.19.255.255", "198.18.0.0/15"),
        ("198.51.100.7", "198.51.100.0/24"),
        ("203.0.113.9", "203.0.113.0/24"),
        ("224.0.0.1", "224.0.0.0/4"),
        ("239.255.255.250", "224.0.0.0/4"),
        ("240.0.0.1", "240.0.0.0/4"),
        ("255.255.255.254", "240.0.0.0/4"),
        ("255.255.255.255", "broadcast"),
        ("::", "(::)"),
        ("::1", "(::1)"),
        ("::ffff:0:a00:1", "::ffff:0:0:0/96"),
        ("64:ff9b::a00:1", "64:ff9b::/96"),
        ("64:ff9b::808:808", "64:ff9b::/96"),
        ("64:ff9b:1::1", "64:ff9b:1::/48"),
        ("100::1", "100::/64"),
        ("2001::1", "2001::/32"),
        ("2001:db8::1", "2001:db8::/32"),
        ("3fff::1", "3fff::/20"),
        ("fc00::1", "fc00::/7"),
        ("fd12:3456::1", "fc00::/7"),
        ("fe80::1", "fe80::/10"),
        ("febf::1", "fe80::/10"),
        ("fec0::1", "fec0::/10"),
        ("ff02::1", "ff00::/8"),
        ("ff0e::1", "ff00::/8"),
    ] {
        let refused = range_of(addr).unwrap_or_else(|| panic!("{addr} was permitted"));
        assert!(refused.contains(range), "{addr}: {refused}");
    }
}

#[test]
fn ipv6_wrappings_are_judged_by_the_ipv4_they_carry() {
    for (addr, range) in [
        ("::ffff:127.0.0.1", "127.0.0.0/8"),
        ("::ffff:7f00:1", "127.0.0.0/8"),
        ("::ffff:10.0.0.1", "10.0.0.0/8"),
        ("::ffff:169.254.169.254", "169.254.0.0/16"),
        ("::ffff:0.0.0.0", "0.0.0.0/8"),
        ("::127.0.0.1", "127.0.0.0/8"),
        ("::10.0.0.1", "10.0.0.0/8"),
        ("2002:7f00:1::", "127.0.0.0/8"),
        ("2002:a9fe:a9fe::1", "169.254.0.0/16"),
    ] {
        let refused = range_of(addr).unwrap_or_else(|| panic!("{addr} was permitted"));
        assert!(refused.contains(range), "{addr}: {refused}");
    }
    let refused = AddressPolicy::default()
        .check_ip(ip("::ffff:127.0.0.1"))
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        "::ffff:127.0.0.1 carries 127.0.0.1, a loopback address (127.0.0.0/8)"
    );
    for public in ["::ffff:8.8.8.8", "2002:808:808::1"] {
        assert_eq!(range_of(public), None, "{public}");
    }
}

#[test]
fn public_addresses_are_permitted() {
    for addr in [
        "1.1.1.1",
        "8.8.8.8",
        "93.184.216.34",
        "172.32.0.1",
        "100.128.0.1",
        "192.0.3.1",
        "198.20.0.1",
        "223.255.255.255",
        "2606:4700::1111",
        "2a00:1450:4001::200e",
    ] {
        assert_eq!(range_of(addr), None, "{addr}");
    }
}

#[test]
fn exempted_networks_are_permitted() {
    let policy = AddressPolicy::allowing(vec!["127.0.0.0/8".parse().unwrap()]);
    assert!(policy.permits_ip(ip("127.0.0.1")));
    assert!(policy.permits_ip(ip("::ffff:127.0.0.1")));
    assert!(!policy.permits_ip(ip("10.0.0.1")));
    assert!(!policy.permits_ip(ip("::1")));
    assert!(policy.permits_host_name("localhost"));
    assert!(policy.permits_host_name("app.localhost."));
    assert!(!policy.permits_host_name("metadata.google.internal"));
    let v6 = AddressPolicy::allowing(vec!["fd00::/8".parse().unwrap()]);
    assert!(v6.permits_ip(ip("fd00::5")));
}

#[test]
fn internal_host_names_are_refused() {
    let policy = AddressPolicy::default();
    for host in [
        "localhost",
        "localhost.",
        "LOCALHOST.",
        "api.localhost",
        "ip6-localhost",
        "ip6-loopback",
        "localhost.localdomain",
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "anything.internal",
        "printer.local",
        "nas.home.arpa",
        "kubernetes.default.svc",
        "db.default.svc.cluster.local",
    ] {
        assert!(!policy.permits_host_name(host), "{host} was permitted");
    }
    for host in [
        "hooks.example.com",
        "internal.example.com",
        "localhost.example",
    ] {
        assert!(policy.permits_host_name(host), "{host} was refused");
    }
}

#[test]
fn ports_follow_the_allow_list() {
    let policy = AddressPolicy::default();
    assert!(policy.permits_port(443) && policy.permits_port(8080));
    assert!(!policy.permits_port(22));
    let strict = policy.with_ports("443".parse().unwrap());
    assert!(!strict.permits_port(80));
}
