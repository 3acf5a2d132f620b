//! What every overlay must hold, and what production must never hold.

use std::collections::BTreeSet;

use herald_domain::duration::parse_duration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use crate::render::{Overlay, overlay, overlays, repository};

const HERALD_IMAGE: &str = "ghcr.io/herald-dev/herald";
const SERVICES: [&str; 4] = [
    "herald-ingest",
    "herald-dispatcher",
    "herald-dlq",
    "herald-operator",
];

fn names(overlay: &Overlay, kind: &str) -> BTreeSet<String> {
    overlay
        .of_kind(kind)
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_owned())
        .collect()
}

fn has_all(overlay: &Overlay, kind: &str, wanted: &[&str]) {
    let present = names(overlay, kind);
    for name in wanted {
        assert!(
            present.contains(*name),
            "{}: no {kind} {name}",
            overlay.name
        );
    }
}

#[test]
fn every_overlay_holds_the_whole_installation() {
    for overlay in overlays() {
        has_all(overlay, "Deployment", &SERVICES);
        has_all(overlay, "StatefulSet", &["nats"]);
        has_all(
            overlay,
            "Service",
            &["herald-ingest", "nats", "nats-headless"],
        );
        has_all(overlay, "PodDisruptionBudget", &SERVICES);
        has_all(overlay, "PodDisruptionBudget", &["nats"]);
        has_all(
            overlay,
            "NetworkPolicy",
            &["default-deny", "herald-dispatcher"],
        );
        has_all(overlay, "HorizontalPodAutoscaler", &["herald-ingest"]);
        has_all(overlay, "ScaledObject", &["herald-dispatcher"]);
        has_all(overlay, "ServiceMonitor", &SERVICES);
        has_all(overlay, "PrometheusRule", &["herald-alerts", "herald-slo"]);
        has_all(
            overlay,
            "CustomResourceDefinition",
            &["webhooktenants.herald.dev"],
        );
        let scaled: Value = overlay.named("ScaledObject", "herald-dispatcher");
        let trigger = &scaled["spec"]["triggers"][0];
        assert_eq!(trigger["type"], "prometheus", "{}", overlay.name);
        let query = trigger["metadata"]["query"].as_str().unwrap_or_default();
        assert!(
            recorded_rules().contains(&query.to_owned()),
            "{}: the dispatchers scale on {query:?}, which no rule records",
            overlay.name
        );
        let headless: Value = overlay.named("Service", "nats-headless");
        let nats: Value = overlay.named("StatefulSet", "nats");
        assert_eq!(headless["spec"]["clusterIP"], "None");
        assert_eq!(nats["spec"]["serviceName"], "nats-headless");
        assert!(nats["spec"]["volumeClaimTemplates"][0].is_object());
    }
    let prod: Value = overlay("prod").named("StatefulSet", "nats");
    assert_eq!(prod["spec"]["replicas"], 3, "a JetStream cluster of three");
}

fn probed(probe: &Option<Probe>) -> bool {
    probe
        .as_ref()
        .is_some_and(|p| p.http_get.is_some() || p.exec.is_some() || p.tcp_socket.is_some())
}

#[test]
fn every_container_is_probed_sized_and_unprivileged() {
    for overlay in overlays() {
        for (workload, pod) in overlay.pods() {
            let at = format!("{}/{workload}", overlay.name);
            let pod_security = pod.security_context.clone().unwrap_or_default();
            assert_eq!(pod_security.run_as_non_root, Some(true), "{at}");
            // Spread what runs replicated; dev-only single pods (PostgreSQL, Grafana) need not.
            if SERVICES.contains(&workload.as_str()) || workload == "nats" {
                assert!(pod.topology_spread_constraints.is_some(), "{at}: spread");
            }
            for container in &pod.containers {
                let at = format!("{at}/{}", container.name);
                assert!(probed(&container.liveness_probe), "{at}: liveness");
                assert!(probed(&container.readiness_probe), "{at}: readiness");
                let resources = container.resources.clone().unwrap_or_default();
                for (which, set) in [
                    ("requests", resources.requests),
                    ("limits", resources.limits),
                ] {
                    let set = set.unwrap_or_default();
                    for key in ["cpu", "memory"] {
                        assert!(set.contains_key(key), "{at}: {which}.{key}");
                    }
                }
                let security = container.security_context.clone().unwrap_or_default();
                assert_eq!(security.read_only_root_filesystem, Some(true), "{at}");
                assert_eq!(security.allow_privilege_escalation, Some(false), "{at}");
                let dropped = security
                    .capabilities
                    .and_then(|c| c.drop)
                    .unwrap_or_default();
                assert_eq!(dropped, ["ALL"], "{at}");
            }
        }
    }
}

fn env<'a>(container: &'a Container, name: &str) -> Option<&'a str> {
    container
        .env
        .iter()
        .flatten()
        .find(|e| e.name == name)
        .and_then(|e| e.value.as_deref())
}

/// The port a probe reaches, resolving a port name through the container's ports.
fn probe_port(container: &Container, probe: &Option<Probe>) -> i32 {
    let port = &probe.as_ref().unwrap().http_get.as_ref().unwrap().port;
    match port {
        IntOrString::Int(n) => *n,
        IntOrString::String(name) => {
            container
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name))
                .unwrap_or_else(|| panic!("{}: no port {name}", container.name))
                .container_port
        }
    }
}

#[test]
fn services_listen_on_all_interfaces_where_their_probes_knock() {
    // The defaults bind 127.0.0.1, which no kubelet probe or Service reaches.
    let variables = [
        ("herald-ingest", "HERALD_API_ADDR"),
        ("herald-dispatcher", "HERALD_DISPATCHER_HEALTH_ADDR"),
        ("herald-dlq", "HERALD_DLQ_HEALTH_ADDR"),
        ("herald-operator", "HERALD_OPERATOR_ADDR"),
    ];
    for overlay in overlays() {
        for (workload, variable) in variables {
            let deployment: Deployment = overlay.named("Deployment", workload);
            let pod = deployment.spec.template.spec.unwrap();
            let container = &pod.containers[0];
            let addr = env(container, variable).unwrap_or_else(|| panic!("{workload}: {variable}"));
            let (host, port) = addr.rsplit_once(':').unwrap();
            assert_eq!(host, "0.0.0.0", "{workload}: {variable}");
            for probe in [&container.liveness_probe, &container.readiness_probe] {
                assert_eq!(probe_port(container, probe).to_string(), port, "{workload}");
            }
            let paths: Vec<_> = [&container.liveness_probe, &container.readiness_probe]
                .iter()
                .map(|p| p.as_ref().unwrap().http_get.as_ref().unwrap().path.clone())
                .collect();
            assert_eq!(paths, [Some("/healthz".into()), Some("/readyz".into())]);
        }
    }
}

#[test]
fn pods_get_the_time_their_service_takes_to_drain() {
    for overlay in overlays() {
        let pod = |name: &str| {
            let deployment: Deployment = overlay.named("Deployment", name);
            deployment.spec.template.spec.unwrap()
        };
        // The dispatcher lets an attempt finish: delivery timeout + 5 s, then the health server.
        let dispatcher = pod("herald-dispatcher");
        let timeout = env(&dispatcher.containers[0], "HERALD_DELIVERY_TIMEOUT").unwrap_or("15s");
        let drain = parse_duration(timeout).unwrap().as_secs() + 5 + 5;
        let grace = dispatcher.termination_grace_period_seconds.unwrap();
        assert!(
            grace as u64 >= drain,
            "{}: dispatcher {grace} s < {drain} s",
            overlay.name
        );
        // Ingest: the preStop pause, then the API's 20 s drain.
        let ingest = pod("herald-ingest");
        let grace = ingest.termination_grace_period_seconds.unwrap();
        assert!(grace >= 5 + 20, "{}: ingest {grace} s", overlay.name);
    }
}

fn image_parts(image: &str) -> (&str, Option<&str>) {
    let name_start = image.rfind('/').map_or(0, |i| i + 1);
    match image[name_start..].split_once(':') {
        Some((_, tag)) => (&image[..image.len() - tag.len() - 1], Some(tag)),
        None => (image, None),
    }
}

#[test]
fn herald_runs_one_image_at_one_tag_per_overlay() {
    for (name, tag) in [("dev", "dev"), ("prod", "0.1.0")] {
        let overlay = overlay(name);
        let expected = format!("{HERALD_IMAGE}:{tag}");
        for workload in SERVICES {
            let deployment: Deployment = overlay.named("Deployment", workload);
            let container = &deployment.spec.template.spec.unwrap().containers[0];
            assert_eq!(
                container.image.as_deref(),
                Some(expected.as_str()),
                "{workload}"
            );
            assert_eq!(
                container.command.as_deref(),
                Some(&[workload.to_owned()][..])
            );
        }
        for (workload, container) in overlay.containers() {
            let image = container.image.unwrap_or_default();
            if image.starts_with("ghcr.io/herald-dev/") {
                assert_eq!(image, expected, "{workload}: every Herald image alike");
            }
        }
    }
}

#[test]
fn production_pins_every_image() {
    for (workload, container) in overlay("prod").containers() {
        let image = container.image.unwrap_or_default();
        let (_, tag) = image_parts(&image);
        assert!(
            matches!(tag, Some(t) if t != "latest") || image.contains("@sha256:"),
            "{workload}: {image:?} is not pinned"
        );
    }
}

#[test]
fn production_holds_no_secret_values() {
    let prod = overlay("prod");
    for secret in prod.of_kind("Secret") {
        let empty = |field: &str| secret[field].as_object().is_none_or(|m| m.is_empty());
        assert!(
            empty("data") && empty("stringData"),
            "prod Secret {} carries values",
            secret["metadata"]["name"]
        );
    }
    for overlay in overlays() {
        for (workload, container) in overlay.containers() {
            for var in [
                "DATABASE_URL",
                "HERALD_ADMIN_TOKEN",
                "HERALD_ENCRYPTION_KEY",
            ] {
                assert!(
                    env(&container, var).is_none(),
                    "{}/{workload}: {var} as a literal; use {var}_FILE",
                    overlay.name
                );
            }
        }
    }
}

#[test]
fn prometheus_rules_are_the_rule_files() {
    for (rule, file) in [
        ("herald-alerts", "herald-alerts.yaml"),
        ("herald-slo", "herald-slo.yaml"),
    ] {
        let path = repository().join("k8s/monitoring").join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let rules: Value = serde_yaml::from_str(&text).unwrap();
        for overlay in overlays() {
            let wrapped: Value = overlay.named("PrometheusRule", rule);
            assert_eq!(
                wrapped["spec"]["groups"], rules["groups"],
                "k8s/base/monitoring.yaml {rule} differs from k8s/monitoring/{file}"
            );
        }
    }
}

/// The series the rule files record.
fn recorded_rules() -> Vec<String> {
    let mut recorded = Vec::new();
    for file in ["herald-alerts.yaml", "herald-slo.yaml"] {
        let path = repository().join("k8s/monitoring").join(file);
        let rules: Value = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for group in rules["groups"].as_array().into_iter().flatten() {
            for rule in group["rules"].as_array().into_iter().flatten() {
                if let Some(record) = rule["record"].as_str() {
                    recorded.push(record.to_owned());
                }
            }
        }
    }
    recorded
}
