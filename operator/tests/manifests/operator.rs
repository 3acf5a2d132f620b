//! k8s/operator: each document is a valid object of its kind, the RBAC grants exactly the
//! calls the operator makes, and the Deployment points at routes the operator serves.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, Role};
use serde::Deserialize;
use serde_json::Value;

fn documents(file: &str) -> Vec<Value> {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../k8s/operator")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{file}: {e}")))
        .collect()
}

fn of_kind<T: serde::de::DeserializeOwned>(docs: &[Value], kind: &str) -> T {
    let doc = docs
        .iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"));
    serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{kind}: {e}"))
}

/// (group, resource, verb, resource name) for every rule.
fn grants(rules: &[PolicyRule]) -> BTreeSet<(String, String, String, String)> {
    let mut out = BTreeSet::new();
    for rule in rules {
        let names = rule
            .resource_names
            .clone()
            .unwrap_or_else(|| vec!["*".into()]);
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                for verb in &rule.verbs {
                    for name in &names {
                        out.insert((group.clone(), resource.clone(), verb.clone(), name.clone()));
                    }
                }
            }
        }
    }
    out
}

fn set(items: &[(&str, &str, &str, &str)]) -> BTreeSet<(String, String, String, String)> {
    items
        .iter()
        .map(|(g, r, v, n)| ((*g).into(), (*r).into(), (*v).into(), (*n).into()))
        .collect()
}

#[test]
fn the_cluster_role_grants_exactly_what_the_operator_calls() {
    let docs = documents("rbac.yaml");
    let role: ClusterRole = of_kind(&docs, "ClusterRole");
    let calls = set(&[
        // The controller's watch (list, then watch) and the finalizer's JSON patches.
        ("herald.dev", "webhooktenants", "get", "*"),
        ("herald.dev", "webhooktenants", "list", "*"),
        ("herald.dev", "webhooktenants", "watch", "*"),
        ("herald.dev", "webhooktenants", "patch", "*"),
        // apply::write_status.
        ("herald.dev", "webhooktenants/status", "patch", "*"),
        // secret::tenant_of reads, secret::store creates or patches the key.
        ("", "secrets", "get", "*"),
        ("", "secrets", "create", "*"),
        ("", "secrets", "patch", "*"),
        // The event Recorder creates Events and patches repeats into a series.
        ("events.k8s.io", "events", "create", "*"),
        ("events.k8s.io", "events", "patch", "*"),
    ]);
    assert_eq!(grants(role.rules.as_deref().unwrap_or_default()), calls);
}

#[test]
fn the_leader_role_covers_only_the_operators_lease() {
    let docs = documents("rbac.yaml");
    let role: Role = of_kind(&docs, "Role");
    let calls = set(&[
        ("coordination.k8s.io", "leases", "create", "*"),
        ("coordination.k8s.io", "leases", "get", "herald-operator"),
        ("coordination.k8s.io", "leases", "update", "herald-operator"),
    ]);
    assert_eq!(grants(role.rules.as_deref().unwrap_or_default()), calls);
}

#[test]
fn the_deployment_runs_as_the_service_account_and_probes_the_served_routes() {
    let rbac = documents("rbac.yaml");
    let deployment: Deployment = of_kind(&documents("deployment.yaml"), "Deployment");
    let pod = deployment.spec.template.spec.expect("pod spec");
    let account = rbac.iter().find(|d| d["kind"] == "ServiceAccount").unwrap();
    assert_eq!(
        pod.service_account_name.as_deref(),
        account["metadata"]["name"].as_str()
    );
    let container = &pod.containers[0];
    let env: Vec<&str> = container
        .env
        .iter()
        .flatten()
        .map(|e| e.name.as_str())
        .collect();
    for needed in [
        "POD_NAME",
        "POD_NAMESPACE",
        "HERALD_API_URL",
        "HERALD_ADMIN_TOKEN_FILE",
    ] {
        assert!(env.contains(&needed), "{needed} is set");
    }
    let probe_path = |probe: &Option<k8s_openapi::api::core::v1::Probe>| {
        probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .and_then(|h| h.path.clone())
    };
    assert_eq!(
        probe_path(&container.liveness_probe).as_deref(),
        Some("/healthz")
    );
    assert_eq!(
        probe_path(&container.readiness_probe).as_deref(),
        Some("/readyz")
    );
}
