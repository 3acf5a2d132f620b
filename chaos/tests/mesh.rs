//! The chaos-mesh experiments of `chaos/mesh/` run against a cluster, never here; this
//! checks them offline. Each must be one chaos-mesh resource that aims at Herald's pods in
//! the `herald-system` namespace only, ends by itself, names the metrics, alerts and local drill
//! that go with it (all of which must exist), and the workflow must run exact copies.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml::{Mapping, Value};

const API_VERSION: &str = "chaos-mesh.org/v1alpha1";
const NAMESPACE: &str = "herald-system";
const NAME_LABEL: &str = "app.kubernetes.io/name";
/// What an experiment may inject into: Herald's own pods.
const HERALD_PODS: &[&str] = &["herald-ingest", "herald-dispatcher", "herald-dlq"];
/// What a network experiment may cut Herald off from, besides its own pods.
const PEERS: &[&str] = &["nats"];
const CHAOS_KINDS: &[&str] = &["PodChaos", "NetworkChaos", "StressChaos"];
const MODES: &[&str] = &["one", "all", "fixed", "fixed-percent", "random-max-percent"];
const SECTIONS: &[&str] = &["# What:", "# Expected:", "# Watch:", "# Drill:"];

struct Experiment {
    file: String,
    comment: String,
    doc: Value,
}

impl Experiment {
    fn kind(&self) -> &str {
        str_at(&self.doc, &["kind"], &self.file)
    }

    fn stem(&self) -> &str {
        self.file.trim_end_matches(".yaml")
    }

    /// The text of one comment section, from its heading to the next.
    fn section(&self, heading: &str) -> &str {
        let start = self
            .comment
            .find(heading)
            .unwrap_or_else(|| panic!("{}: no `{heading}` section", self.file));
        let rest = &self.comment[start + heading.len()..];
        let end = SECTIONS
            .iter()
            .filter_map(|next| rest.find(next))
            .min()
            .unwrap_or(rest.len());
        &rest[..end]
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the chaos crate sits in the workspace")
        .to_path_buf()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Every `*.yaml` of `chaos/mesh/`, parsed: one document each.
fn experiments() -> Vec<Experiment> {
    let dir = workspace().join("chaos/mesh");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("chaos/mesh exists")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no experiments in {}", dir.display());
    files
        .iter()
        .map(|path| {
            let text = read(path);
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            let doc = serde_yaml::from_str(&text)
                .unwrap_or_else(|e| panic!("{file} is not one YAML document: {e}"));
            let comment = text
                .lines()
                .take_while(|line| line.starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n");
            Experiment { file, comment, doc }
        })
        .collect()
}

fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |value, key| value.get(*key))
}

fn str_at<'a>(value: &'a Value, path: &[&str], file: &str) -> &'a str {
    at(value, path)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{file}: `{}` missing or not a string", path.join(".")))
}

/// `30s`, `5m`, `1h`, as chaos-mesh writes durations here.
fn duration(text: &str, file: &str) -> Duration {
    let (number, unit) = text.split_at(text.trim_end_matches(char::is_alphabetic).len());
    let number: u64 = number
        .parse()
        .unwrap_or_else(|_| panic!("{file}: bad duration {text}"));
    match unit {
        "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number * 60),
        "h" => Duration::from_secs(number * 3600),
        _ => panic!("{file}: bad duration unit in {text}"),
    }
}

/// A pod selector: the `herald-system` namespace only, and one of `allowed` by name label.
fn check_selector(selector: &Value, allowed: &[&str], file: &str) {
    let namespaces = at(selector, &["namespaces"]).and_then(Value::as_sequence);
    assert_eq!(
        namespaces.map(|n| n.iter().filter_map(Value::as_str).collect::<Vec<_>>()),
        Some(vec![NAMESPACE]),
        "{file}: a selector must name exactly the `{NAMESPACE}` namespace"
    );
    let name = str_at(selector, &["labelSelectors", NAME_LABEL], file);
    assert!(
        allowed.contains(&name),
        "{file}: selects `{name}`, not one of {allowed:?}"
    );
}

fn check_mode(spec: &Value, file: &str) {
    let mode = str_at(spec, &["mode"], file);
    assert!(MODES.contains(&mode), "{file}: unknown mode {mode}");
    if mode.starts_with("fixed") || mode.starts_with("random") {
        assert!(
            spec.get("value").is_some(),
            "{file}: mode {mode} needs a value"
        );
    }
}

/// One experiment's spec, as its own resource or embedded in the workflow.
fn check_spec(kind: &str, spec: &Value, file: &str) {
    check_selector(&spec["selector"], HERALD_PODS, file);
    check_mode(spec, file);
    match kind {
        "PodChaos" => {
            let action = str_at(spec, &["action"], file);
            assert!(
                ["pod-kill", "pod-failure", "container-kill"].contains(&action),
                "{file}: unknown PodChaos action {action}"
            );
        }
        "NetworkChaos" => {
            let action = str_at(spec, &["action"], file);
            assert!(
                spec.get(action).is_some() || action == "partition",
                "{file}: action {action} needs its `{action}` settings"
            );
            let direction = str_at(spec, &["direction"], file);
            assert!(
                ["to", "from", "both"].contains(&direction),
                "{file}: direction"
            );
            match (spec.get("target"), spec.get("externalTargets")) {
                (Some(target), None) => {
                    check_mode(target, file);
                    let allowed: Vec<&str> = HERALD_PODS.iter().chain(PEERS).copied().collect();
                    check_selector(&target["selector"], &allowed, file);
                }
                (None, Some(external)) => {
                    assert_eq!(direction, "to", "{file}: externalTargets work outward only");
                    let hosts = external.as_sequence().expect("externalTargets is a list");
                    assert!(!hosts.is_empty(), "{file}: empty externalTargets");
                    for host in hosts.iter().map(|h| h.as_str().expect("a host")) {
                        // Everything would include NATS and PostgreSQL, in the cluster too.
                        assert!(
                            !["0.0.0.0/0", "::/0"].contains(&host),
                            "{file}: externalTargets {host} cuts off everything"
                        );
                    }
                }
                _ => panic!("{file}: a NetworkChaos needs either a target or externalTargets"),
            }
        }
        "StressChaos" => {
            let stressors = at(spec, &["stressors"]).and_then(Value::as_mapping);
            assert!(
                stressors.is_some_and(|s| !s.is_empty()),
                "{file}: no stressors"
            );
        }
        other => panic!("{file}: unexpected kind {other}"),
    }
}

/// The experiments aim where the manifests put Herald: a namespace with nothing of Herald's
/// in it would make every experiment select no pod and pass doing nothing.
#[test]
fn experiments_aim_at_the_namespace_herald_is_deployed_to() {
    for kustomization in [
        "k8s/base/kustomization.yaml",
        "k8s/overlays/dev/kustomization.yaml",
        "k8s/overlays/prod/kustomization.yaml",
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(kustomization);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{kustomization}: {e}"));
        let doc: Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(
            doc["namespace"].as_str(),
            Some(NAMESPACE),
            "{kustomization} deploys Herald elsewhere"
        );
    }
}

#[test]
fn every_experiment_is_chaos_mesh_aimed_at_herald_only() {
    for experiment in experiments() {
        let (doc, file) = (&experiment.doc, experiment.file.as_str());
        assert_eq!(str_at(doc, &["apiVersion"], file), API_VERSION, "{file}");
        assert_eq!(
            str_at(doc, &["metadata", "namespace"], file),
            NAMESPACE,
            "{file}"
        );
        let name = str_at(doc, &["metadata", "name"], file);
        assert!(name.starts_with("herald-"), "{file}: name {name}");
        let kind = experiment.kind();
        if kind == "Workflow" {
            continue;
        }
        let spec = &doc["spec"];
        check_spec(kind, spec, file);
        // Lasting faults must end by themselves, even if nobody deletes them.
        if kind != "PodChaos" {
            duration(str_at(spec, &["duration"], file), file);
        }
    }
}

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .map(|word| word.trim_matches(':'))
        .filter(|word| !word.is_empty())
}

#[test]
fn every_experiment_names_real_metrics_alerts_and_drills() {
    let root = workspace();
    let metrics = read(&root.join("docs/observability.md"));
    let alerts: String = ["herald-alerts.yaml", "herald-slo.yaml"]
        .iter()
        .map(|file| read(&root.join("k8s/monitoring").join(file)))
        .collect();
    for experiment in experiments() {
        let file = &experiment.file;
        for heading in SECTIONS {
            assert!(
                experiment.section(heading).trim().len() > 10,
                "{file}: `{heading}` says nothing"
            );
        }
        for word in words(&experiment.comment) {
            if word.starts_with("herald_") {
                assert!(metrics.contains(word), "{file}: no metric {word}");
            }
            let alert_like = word.len() > 6
                && word.starts_with("Herald")
                && word.as_bytes()[6].is_ascii_uppercase();
            if alert_like {
                assert!(
                    alerts.contains(&format!("alert: {word}\n")),
                    "{file}: no alert {word}"
                );
            }
        }
        let drills: Vec<&str> = words(experiment.section("# Drill:"))
            .filter(|word| word.contains("::"))
            .collect();
        assert!(!drills.is_empty(), "{file}: names no drill as module::test");
        for drill in drills {
            let (module, test) = drill.split_once("::").unwrap();
            let source = read(&root.join("chaos/tests/drills").join(format!("{module}.rs")));
            assert!(
                source.contains(&format!("async fn {test}(")),
                "{file}: no drill {drill}"
            );
        }
    }
}

/// The spec of an experiment's own file as the workflow embeds it: without `duration`,
/// which becomes the step's `deadline`.
fn embedded(spec: &Value) -> Value {
    let mut spec: Mapping = spec.as_mapping().expect("a spec").clone();
    spec.remove("duration");
    Value::Mapping(spec)
}

#[test]
fn the_workflow_runs_every_experiment_as_written() {
    let all = experiments();
    let workflow = all
        .iter()
        .find(|e| e.kind() == "Workflow")
        .expect("a Workflow in chaos/mesh");
    let file = workflow.file.as_str();
    let templates = workflow.doc["spec"]["templates"]
        .as_sequence()
        .expect("templates");
    let template = |name: &str| {
        templates
            .iter()
            .find(|t| t["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("{file}: no template {name}"))
    };
    let entry = template(str_at(&workflow.doc, &["spec", "entry"], file));
    assert_eq!(str_at(entry, &["templateType"], file), "Serial", "{file}");
    let mut total = Duration::ZERO;
    let mut run = BTreeSet::new();
    for child in entry["children"].as_sequence().expect("children") {
        let step = template(child.as_str().expect("a template name"));
        let name = str_at(step, &["name"], file);
        total += duration(str_at(step, &["deadline"], file), file);
        let kind = str_at(step, &["templateType"], file);
        if kind == "Suspend" {
            continue;
        }
        assert!(
            CHAOS_KINDS.contains(&kind),
            "{file}: step {name} is a {kind}"
        );
        let own = all
            .iter()
            .find(|e| e.stem() == name)
            .unwrap_or_else(|| panic!("{file}: step {name} has no file {name}.yaml"));
        assert_eq!(own.kind(), kind, "{file}: step {name}");
        let field = format!("{}{}", kind[..1].to_lowercase(), &kind[1..]);
        let spec = &step[field.as_str()];
        check_spec(kind, spec, file);
        assert_eq!(
            spec,
            &embedded(&own.doc["spec"]),
            "{file}: step {name} differs from {name}.yaml"
        );
        if let Some(own_duration) = own.doc["spec"]["duration"].as_str() {
            assert_eq!(
                str_at(step, &["deadline"], file),
                own_duration,
                "{file}: step {name} lasts as long as {name}.yaml"
            );
        }
        run.insert(name.to_owned());
    }
    let deadline = duration(str_at(entry, &["deadline"], file), file);
    assert!(
        total <= deadline,
        "{file}: its steps take {total:?}, longer than its deadline {deadline:?}"
    );
    let standalone: BTreeSet<String> = all
        .iter()
        .filter(|e| e.kind() != "Workflow")
        .map(|e| e.stem().to_owned())
        .collect();
    assert_eq!(run, standalone, "{file}: runs every experiment once");
}

#[test]
fn the_readme_maps_every_experiment() {
    let readme = read(&workspace().join("chaos/mesh/README.md"));
    for experiment in experiments() {
        assert!(
            readme.contains(&format!("({})", experiment.file)),
            "chaos/mesh/README.md does not link {}",
            experiment.file
        );
    }
}
