//! The network policies: default deny, and a dispatcher that reaches receivers on the
//! internet but nothing private, whatever its code is tricked into resolving.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyEgressRule};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::render::{Overlay, overlay, overlays, typed};

const PRIVATE: [&str; 4] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
];

fn v4(cidr: &str) -> Option<(u32, u32)> {
    let (addr, len) = cidr.split_once('/')?;
    let addr: Ipv4Addr = addr.parse().ok()?;
    let len: u32 = len.parse().ok()?;
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Some((u32::from(addr) & mask, mask))
}

/// Whether two IPv4 blocks share an address.
fn overlap(a: &str, b: &str) -> bool {
    let ((a, am), (b, bm)) = (v4(a).unwrap(), v4(b).unwrap());
    let common = am & bm;
    a & common == b & common
}

/// Whether `selector` picks pods with `labels` (the operators policies here use).
fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let by_label = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let by_expression = selector.match_expressions.iter().flatten().all(|e| {
        let value = labels.get(&e.key);
        let listed = value.is_some_and(|v| e.values.iter().flatten().any(|x| x == v));
        match e.operator.as_str() {
            "In" => listed,
            "NotIn" => !listed,
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            other => panic!("operator {other}"),
        }
    });
    by_label && by_expression
}

fn policies(overlay: &Overlay) -> Vec<NetworkPolicy> {
    overlay
        .of_kind("NetworkPolicy")
        .map(|o| typed(o, &overlay.name))
        .collect()
}

fn dispatcher_labels(overlay: &Overlay) -> BTreeMap<String, String> {
    let deployment = overlay
        .of_kind("Deployment")
        .find(|o| o["metadata"]["name"] == "herald-dispatcher")
        .unwrap();
    typed(
        &deployment["spec"]["template"]["metadata"]["labels"],
        "labels",
    )
}

fn ports(rule: &NetworkPolicyEgressRule) -> Vec<i32> {
    rule.ports
        .iter()
        .flatten()
        .map(|p| match p.port {
            Some(IntOrString::Int(n)) => n,
            ref other => panic!("egress port {other:?}: use numbers"),
        })
        .collect()
}

/// Checks one egress rule that applies to the dispatcher: internet blocks except every
/// private range, pods only NATS, PostgreSQL or DNS; `database` allows one address on 5432.
fn check_dispatcher_egress(rule: &NetworkPolicyEgressRule, what: &str) {
    let peers = rule.to.as_deref().unwrap_or_default();
    assert!(!peers.is_empty(), "{what}: egress to every address");
    for peer in peers {
        if let Some(block) = &peer.ip_block {
            if block.cidr.contains(':') {
                let except = block.except.clone().unwrap_or_default();
                assert_eq!(block.cidr, "::/0", "{what}");
                for range in ["fc00::/7", "fe80::/10"] {
                    assert!(except.iter().any(|e| e == range), "{what}: {range} open");
                }
                continue;
            }
            let single_database = block.cidr.ends_with("/32") && ports(rule) == [5432];
            for range in PRIVATE {
                let excepted = block.except.iter().flatten().any(|e| e == range);
                assert!(
                    !overlap(&block.cidr, range) || excepted || single_database,
                    "{what}: {} reaches {range}",
                    block.cidr
                );
            }
        } else {
            let name = peer
                .pod_selector
                .as_ref()
                .and_then(|s| s.match_labels.as_ref())
                .and_then(|l| l.get("app.kubernetes.io/name").or_else(|| l.get("k8s-app")))
                .map(String::as_str);
            assert!(
                matches!(name, Some("nats" | "postgres" | "kube-dns")),
                "{what}: a peer other than NATS, PostgreSQL or DNS: {peer:?}"
            );
        }
    }
    let internet = peers.iter().any(|p| p.ip_block.is_some());
    if internet && ports(rule) != [5432] {
        assert_eq!(
            ports(rule),
            [80, 443],
            "{what}: receivers on 80 and 443 only"
        );
    }
}

#[test]
fn every_overlay_starts_from_default_deny() {
    for overlay in overlays() {
        let deny = policies(overlay)
            .into_iter()
            .find(|p| p.metadata.name.as_deref() == Some("default-deny"))
            .unwrap();
        let spec = deny.spec.unwrap();
        assert_eq!(spec.pod_selector, Some(LabelSelector::default()));
        assert_eq!(spec.policy_types.unwrap(), ["Ingress", "Egress"]);
        assert!(spec.ingress.is_none() && spec.egress.is_none());
    }
}

#[test]
fn the_dispatcher_policy_blocks_private_ranges_in_every_overlay() {
    for overlay in overlays() {
        let policy = policies(overlay)
            .into_iter()
            .find(|p| p.metadata.name.as_deref() == Some("herald-dispatcher"))
            .unwrap();
        let spec = policy.spec.unwrap();
        let egress = spec.egress.unwrap_or_default();
        assert!(!egress.is_empty());
        for rule in &egress {
            check_dispatcher_egress(rule, &format!("{}/herald-dispatcher", overlay.name));
        }
    }
}

#[test]
fn in_production_no_policy_opens_a_private_range_to_the_dispatcher() {
    let prod = overlay("prod");
    let labels = dispatcher_labels(prod);
    for policy in policies(prod) {
        let name = policy.metadata.name.clone().unwrap_or_default();
        let spec = policy.spec.unwrap();
        if !selects(&spec.pod_selector.clone().unwrap_or_default(), &labels) {
            continue;
        }
        for rule in spec.egress.iter().flatten() {
            check_dispatcher_egress(rule, &format!("prod/{name}"));
        }
    }
}

#[test]
fn the_overlap_check_sees_what_it_must() {
    assert!(overlap("0.0.0.0/0", "10.0.0.0/8"));
    assert!(overlap("10.1.2.3/32", "10.0.0.0/8"));
    assert!(overlap("172.20.0.0/16", "172.16.0.0/12"));
    assert!(!overlap("192.0.2.10/32", "192.168.0.0/16"));
    assert!(!overlap("8.8.8.8/32", "10.0.0.0/8"));
}
