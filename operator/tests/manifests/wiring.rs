//! Names and selectors that must meet: a typo in one breaks nothing at apply time, only
//! traffic, scraping or disruption budgets later.

use serde_json::Value;

use crate::render::{Overlay, overlays};

fn workloads(overlay: &Overlay) -> impl Iterator<Item = &Value> {
    overlay
        .objects
        .iter()
        .filter(|o| o["kind"] == "Deployment" || o["kind"] == "StatefulSet")
}

/// Whether every pair in `selector` (a plain label map) is among `labels`.
fn matches(selector: &Value, labels: &Value) -> bool {
    let selector = selector.as_object().expect("a label map");
    !selector.is_empty() && selector.iter().all(|(k, v)| &labels[k] == v)
}

fn pod_labels(workload: &Value) -> &Value {
    &workload["spec"]["template"]["metadata"]["labels"]
}

fn name(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}

fn container_ports(workload: &Value) -> Vec<&Value> {
    workload["spec"]["template"]["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["ports"].as_array().into_iter().flatten())
        .collect()
}

#[test]
fn every_service_reaches_a_workload_port() {
    for overlay in overlays() {
        for service in overlay.of_kind("Service") {
            let at = format!("{}/{}", overlay.name, name(service));
            let workload = workloads(overlay)
                .find(|w| matches(&service["spec"]["selector"], pod_labels(w)))
                .unwrap_or_else(|| panic!("{at}: selects no pods"));
            let ports = container_ports(workload);
            for port in service["spec"]["ports"].as_array().unwrap() {
                let target = if port["targetPort"].is_null() {
                    &port["port"]
                } else {
                    &port["targetPort"]
                };
                let found = ports
                    .iter()
                    .any(|p| &p["name"] == target || &p["containerPort"] == target);
                assert!(found, "{at}: no container port {target}");
            }
        }
    }
}

#[test]
fn every_budget_and_scaler_has_its_workload() {
    for overlay in overlays() {
        for budget in overlay.of_kind("PodDisruptionBudget") {
            let selector = &budget["spec"]["selector"]["matchLabels"];
            let covered = workloads(overlay)
                .filter(|w| matches(selector, pod_labels(w)))
                .count();
            assert_eq!(covered, 1, "{}/{}", overlay.name, name(budget));
        }
        let targets = overlay
            .of_kind("HorizontalPodAutoscaler")
            .chain(overlay.of_kind("ScaledObject"));
        for scaler in targets {
            let target = &scaler["spec"]["scaleTargetRef"]["name"];
            assert!(
                workloads(overlay).any(|w| &w["metadata"]["name"] == target),
                "{}/{}: no workload {target}",
                overlay.name,
                name(scaler)
            );
        }
    }
}

#[test]
fn every_service_monitor_finds_its_port() {
    for overlay in overlays() {
        for monitor in overlay.of_kind("ServiceMonitor") {
            let at = format!("{}/{}", overlay.name, name(monitor));
            let selector = &monitor["spec"]["selector"]["matchLabels"];
            let service = overlay
                .of_kind("Service")
                .find(|s| matches(selector, &s["metadata"]["labels"]))
                .unwrap_or_else(|| panic!("{at}: selects no Service"));
            for endpoint in monitor["spec"]["endpoints"].as_array().unwrap() {
                let named = service["spec"]["ports"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["name"] == endpoint["port"]);
                assert!(
                    named,
                    "{at}: {} has no port {}",
                    name(service),
                    endpoint["port"]
                );
            }
        }
    }
}

fn env_of(overlay: &Overlay, workload: &str, variable: &str) -> Option<String> {
    let workload = workloads(overlay).find(|w| name(w) == workload).unwrap();
    let env = &workload["spec"]["template"]["spec"]["containers"][0]["env"];
    let literal = env
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["name"] == variable)
        .and_then(|e| e["value"].as_str());
    // The shared settings count only for a container that reads them.
    let reads_shared = workload["spec"]["template"]["spec"]["containers"][0]["envFrom"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|source| source["configMapRef"]["name"].as_str())
        .any(|config| config.starts_with("herald-config"));
    let shared = overlay
        .of_kind("ConfigMap")
        .find(|c| name(c).starts_with("herald-config"))
        .and_then(|c| c["data"][variable].as_str())
        .filter(|_| reads_shared);
    literal.or(shared).map(str::to_owned)
}

/// The operator and ingest set up the tenants' consumers (their ack wait, subjects from the
/// prefix) that the dispatcher pulls from and renews: all three must read the same settings.
#[test]
fn the_operator_ingest_and_the_dispatcher_agree_on_the_consumers() {
    for overlay in overlays() {
        for variable in [
            "HERALD_NATS_PREFIX",
            "HERALD_NATS_REPLICAS",
            "HERALD_ACK_WAIT",
        ] {
            let dispatcher = env_of(overlay, "herald-dispatcher", variable);
            for other in ["herald-operator", "herald-ingest"] {
                assert_eq!(
                    env_of(overlay, other, variable),
                    dispatcher,
                    "{}: {variable} of {other}",
                    overlay.name
                );
            }
        }
    }
}

/// Every process that creates Herald's streams asks for one copy per NATS server: more than
/// the servers and no stream can be created, fewer and a stream stops when its server does.
#[test]
fn streams_get_a_copy_on_every_nats_server() {
    for overlay in overlays() {
        let servers = overlay
            .of_kind("StatefulSet")
            .find(|s| name(s) == "nats")
            .and_then(|s| s["spec"]["replicas"].as_u64())
            .unwrap_or(1);
        for workload in [
            "herald-ingest",
            "herald-dispatcher",
            "herald-dlq",
            "herald-operator",
        ] {
            let replicas =
                env_of(overlay, workload, "HERALD_NATS_REPLICAS").unwrap_or_else(|| "1".into());
            assert_eq!(
                replicas,
                servers.to_string(),
                "{}: {workload} asks for {replicas} copies of each stream on {servers} NATS servers",
                overlay.name
            );
        }
    }
}
