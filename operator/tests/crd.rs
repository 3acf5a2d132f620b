//! The committed CRD is the one the Rust type generates, and the example manifests are what
//! it accepts, while specs out of range are refused as `kubectl apply` would refuse them.

use std::path::{Path, PathBuf};

use herald_operator::resource::WebhookTenant;
use kube::CustomResourceExt;
use serde_json::{Value, json};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The schema the API server checks resources against.
fn validator() -> jsonschema::Validator {
    let crd = serde_json::to_value(WebhookTenant::crd()).unwrap();
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    jsonschema::validator_for(schema).expect("the CRD schema compiles")
}

fn examples() -> Vec<(PathBuf, Value)> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(repository().join("k8s/examples"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().contains("webhooktenant"))
        .collect();
    found.sort();
    found
        .into_iter()
        .map(|path| {
            let value = yaml(&path);
            (path, value)
        })
        .collect()
}

#[test]
fn the_committed_crd_is_generated_from_the_type() {
    let committed =
        std::fs::read_to_string(repository().join("k8s/crds/webhooktenant.yaml")).unwrap();
    let generated = herald_operator::crd_yaml(&WebhookTenant::crd()).unwrap();
    assert!(
        committed == generated,
        "k8s/crds/webhooktenant.yaml is stale: run `cargo run -p herald-operator --bin crdgen > k8s/crds/webhooktenant.yaml`"
    );
    let crd = yaml(&repository().join("k8s/crds/webhooktenant.yaml"));
    assert_eq!(crd["metadata"]["name"], "webhooktenants.herald.dev");
    assert_eq!(crd["spec"]["names"]["shortNames"], json!(["wht"]));
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    assert_eq!(crd["spec"]["versions"][0]["name"], "v1alpha1");
    let columns: Vec<&str> = crd["spec"]["versions"][0]["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        ["Tenant", "Ready", "Events/s", "Concurrency", "DLQ", "Age"]
    );
}

#[test]
fn the_example_manifests_validate_against_the_crd() {
    let validator = validator();
    let examples = examples();
    assert!(examples.len() >= 3, "{examples:?}");
    for (path, manifest) in examples {
        let errors: Vec<String> = validator
            .iter_errors(&manifest)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        let typed: WebhookTenant =
            serde_json::from_value(manifest).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!typed.spec.tenant.is_empty());
    }
}

#[test]
fn specs_out_of_range_are_refused() {
    let validator = validator();
    let (_, base) = examples()
        .into_iter()
        .find(|(path, _)| path.ends_with("webhooktenant-acme.yaml"))
        .expect("the acme example");
    for (pointer, bad) in [
        ("/spec/tenant", json!("Acme_Corp")),
        ("/spec/tenant", json!("a")),
        ("/spec/quotas/eventsPerSecond", json!(0)),
        ("/spec/quotas/maxPayloadBytes", json!(5_000_000)),
        ("/spec/quotas/burst", json!("lots")),
        ("/spec/retrySchedule", json!(["soon"])),
        ("/spec/retrySchedule", json!([])),
        ("/spec/suspended", json!("yes")),
    ] {
        let mut manifest = base.clone();
        *manifest.pointer_mut(pointer).unwrap() = bad.clone();
        assert!(
            !validator.is_valid(&manifest),
            "{pointer} = {bad} was accepted"
        );
    }
    let mut nameless = base.clone();
    nameless["spec"].as_object_mut().unwrap().remove("tenant");
    assert!(
        !validator.is_valid(&nameless),
        "a spec without a tenant was accepted"
    );
}
