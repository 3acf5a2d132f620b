//! The NATS servers the overlays run: a configuration the server itself accepts, asking
//! clients for a password that every Herald process presents.

use std::process::Command;

use herald_test_support::NatsServer;
use serde_json::Value;

use crate::render::{Overlay, overlays};

const HERALD_PROCESSES: [&str; 4] = [
    "herald-ingest",
    "herald-dispatcher",
    "herald-dlq",
    "herald-operator",
];

fn nats_conf(overlay: &Overlay) -> &str {
    overlay
        .of_kind("ConfigMap")
        .find(|c| {
            c["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("nats-config"))
        })
        .and_then(|c| c["data"]["nats.conf"].as_str())
        .unwrap_or_else(|| panic!("{}: no nats-config with a nats.conf", overlay.name))
}

fn workload<'a>(overlay: &'a Overlay, name: &str) -> &'a Value {
    overlay
        .objects
        .iter()
        .filter(|o| o["kind"] == "Deployment" || o["kind"] == "StatefulSet")
        .find(|o| o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{}: no workload {name}", overlay.name))
}

fn env<'a>(workload: &'a Value, variable: &str) -> Option<&'a Value> {
    workload["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == variable)
}

/// Whether `name` is Secret `secret`, as written or as a generator names it (`<name>-<hash>`).
fn names_secret(name: &Value, secret: &str) -> bool {
    name.as_str().is_some_and(|n| {
        n == secret
            || n.strip_prefix(secret)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|hash| {
                    hash.len() == 10 && hash.bytes().all(|b| b.is_ascii_alphanumeric())
                })
    })
}

/// The path under which the pod sees `key` of Secret `secret`, through a projected or a
/// plain secret volume mounted in its first container.
fn secret_file(workload: &Value, secret: &str, key: &str) -> Option<String> {
    let pod = &workload["spec"]["template"]["spec"];
    let mounts = pod["containers"][0]["volumeMounts"].as_array()?;
    pod["volumes"].as_array()?.iter().find_map(|volume| {
        let sources: Vec<&Value> = match volume["projected"]["sources"].as_array() {
            Some(sources) => sources.iter().map(|s| &s["secret"]).collect(),
            None => vec![&volume["secret"]],
        };
        let item = sources
            .into_iter()
            .filter(|s| names_secret(&s["name"], secret) || names_secret(&s["secretName"], secret))
            .flat_map(|s| s["items"].as_array().into_iter().flatten())
            .find(|item| item["key"] == key)?;
        let mount = mounts.iter().find(|m| m["name"] == volume["name"])?;
        Some(format!(
            "{}/{}",
            mount["mountPath"].as_str()?,
            item["path"].as_str()?
        ))
    })
}

/// Every overlay's nats.conf as a real nats-server reads it (`-t`): a setting it refuses (a
/// lame-duck duration under its 30 s minimum once kept the dev overlay's NATS from starting)
/// fails here rather than in a cluster.
#[test]
fn every_nats_configuration_is_one_the_server_accepts() {
    for overlay in overlays() {
        let path = std::env::temp_dir().join(format!(
            "herald-{}-{}-nats.conf",
            overlay.name,
            std::process::id()
        ));
        std::fs::write(&path, nats_conf(overlay)).unwrap();
        let checked = Command::new(NatsServer::binary())
            .arg("-c")
            .arg(&path)
            .arg("-t")
            .env("POD_NAME", "nats-0")
            .env("NATS_PASSWORD", "checking")
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", NatsServer::binary().display()));
        let _ = std::fs::remove_file(&path);
        assert!(
            checked.status.success(),
            "{}: nats-server refuses nats.conf: {}",
            overlay.name,
            String::from_utf8_lossy(&checked.stderr)
        );
    }
}

/// NATS asks its clients for a password, which its servers read from the Secret
/// `herald-nats`; every Herald process reads the URL carrying it from the same Secret, and
/// none is given a `NATS_URL` (which would win over `NATS_URL_FILE`).
#[test]
fn nats_asks_for_a_password_that_every_herald_process_presents() {
    for overlay in overlays() {
        let at = &overlay.name;
        let conf = nats_conf(overlay);
        assert!(
            conf.contains("authorization") && conf.contains("password: $NATS_PASSWORD"),
            "{at}: nats.conf asks for no password"
        );
        let password = env(workload(overlay, "nats"), "NATS_PASSWORD")
            .map(|e| &e["valueFrom"]["secretKeyRef"]);
        assert!(
            password
                .is_some_and(|r| names_secret(&r["name"], "herald-nats") && r["key"] == "password"),
            "{at}: the NATS servers' password comes from the Secret herald-nats: {password:?}"
        );
        for name in HERALD_PROCESSES {
            let process = workload(overlay, name);
            let file = env(process, "NATS_URL_FILE").and_then(|e| e["value"].as_str());
            assert_eq!(
                file.map(str::to_owned),
                secret_file(process, "herald-nats", "url"),
                "{at}: {name} reads the NATS URL from the Secret herald-nats"
            );
            assert!(file.is_some(), "{at}: {name} has no NATS_URL_FILE");
            assert!(
                env(process, "NATS_URL").is_none(),
                "{at}: {name} sets NATS_URL"
            );
        }
        let shared = overlay
            .of_kind("ConfigMap")
            .filter(|c| {
                c["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("herald-config"))
            })
            .any(|c| !c["data"]["NATS_URL"].is_null());
        assert!(!shared, "{at}: herald-config sets NATS_URL");
    }
}
