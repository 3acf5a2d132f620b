//! Renders the overlays with `kubectl kustomize`, once per test binary, and reads the
//! objects back.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One rendered overlay: its directory name and its objects.
pub struct Overlay {
    pub name: String,
    pub objects: Vec<Value>,
}

impl Overlay {
    pub fn of_kind(&self, kind: &str) -> impl Iterator<Item = &Value> {
        self.objects.iter().filter(move |o| o["kind"] == kind)
    }

    pub fn named<T: DeserializeOwned>(&self, kind: &str, name: &str) -> T {
        let object = self
            .of_kind(kind)
            .find(|o| o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{}: no {kind} {name}", self.name));
        typed(object, &self.name)
    }

    /// (workload name, pod spec) of every Deployment and StatefulSet.
    pub fn pods(&self) -> Vec<(String, PodSpec)> {
        self.objects
            .iter()
            .filter(|o| o["kind"] == "Deployment" || o["kind"] == "StatefulSet")
            .map(|o| {
                let name = o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let spec = typed(&o["spec"]["template"]["spec"], &name);
                (name, spec)
            })
            .collect()
    }

    pub fn containers(&self) -> Vec<(String, Container)> {
        self.pods()
            .into_iter()
            .flat_map(|(name, pod)| pod.containers.into_iter().map(move |c| (name.clone(), c)))
            .collect()
    }
}

pub fn typed<T: DeserializeOwned>(value: &Value, what: &str) -> T {
    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Every directory under k8s/overlays, rendered. kubectl is required: without it these
/// tests fail rather than pass having checked nothing. `HERALD_TEST_KUBECTL` names it where
/// it is not on PATH (scripts/install-test-tools.sh kubectl).
pub fn overlays() -> &'static [Overlay] {
    static RENDERED: OnceLock<Vec<Overlay>> = OnceLock::new();
    RENDERED.get_or_init(|| {
        let root = repository().join("k8s/overlays");
        let mut names: Vec<String> = std::fs::read_dir(&root)
            .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["dev", "prod"], "the overlays these tests know");
        names
            .into_iter()
            .map(|name| Overlay {
                objects: kustomize(&root.join(&name)),
                name,
            })
            .collect()
    })
}

pub fn overlay(name: &str) -> &'static Overlay {
    overlays().iter().find(|o| o.name == name).unwrap()
}

fn kustomize(dir: &Path) -> Vec<Value> {
    let kubectl = std::env::var("HERALD_TEST_KUBECTL").unwrap_or_else(|_| "kubectl".into());
    let output = Command::new(&kubectl)
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "running `{kubectl} kustomize` failed ({e}): install kubectl \
                 (scripts/install-test-tools.sh kubectl) to run these tests"
            )
        });
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "kubectl kustomize {}: {stderr}",
        dir.display()
    );
    let text = String::from_utf8(output.stdout).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", dir.display())))
        .filter(|doc| !doc.is_null())
        .collect()
}
