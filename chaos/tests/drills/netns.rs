//! A real network partition: the receiver lives in a network namespace of the drill's own,
//! reached over a veth pair, and the link is taken down mid-load. Needs root and iproute2;
//! skips with the reason printed elsewhere.

use std::process::Command;
use std::time::Duration;

use herald_chaos::{Cluster, assert_settled};
use herald_test_support::eventually;
use sqlx::PgPool;

/// A namespace with a receiver in it, torn down on drop.
struct IsolatedReceiver {
    subnet: String,
    namespace: String,
    host_link: String,
    inner_link: String,
    log: tempfile::NamedTempFile,
    receiver: Option<std::process::Child>,
    url: String,
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(format!("{program} {}: {}", args.join(" "), stderr.trim()))
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    run("ip", args)
}

impl IsolatedReceiver {
    fn start() -> Result<Self, String> {
        let id = std::process::id() % 250 + 1;
        let namespace = format!("herald-chaos-{}", std::process::id());
        let host_link = format!("hc{}h", std::process::id() % 100_000);
        let inner_link = format!("hc{}n", std::process::id() % 100_000);
        let (host_ip, inner_ip) = (format!("10.213.{id}.1"), format!("10.213.{id}.2"));
        // Guard first: should the veth route ever vanish, packets for the drill's subnet are
        // refused here instead of following the default route off this machine.
        ip(&[
            "route",
            "add",
            "unreachable",
            &format!("10.213.{id}.0/30"),
            "metric",
            "10000",
        ])?;
        let mut this = Self {
            subnet: format!("10.213.{id}.0/30"),
            namespace: namespace.clone(),
            host_link: host_link.clone(),
            inner_link: inner_link.clone(),
            log: tempfile::NamedTempFile::new().map_err(|e| e.to_string())?,
            receiver: None,
            url: format!("http://{inner_ip}:8099/hook"),
        };
        ip(&["netns", "add", &namespace])?;
        ip(&[
            "link",
            "add",
            &host_link,
            "type",
            "veth",
            "peer",
            "name",
            &inner_link,
        ])?;
        ip(&["link", "set", &inner_link, "netns", &namespace])?;
        ip(&["addr", "add", &format!("{host_ip}/30"), "dev", &host_link])?;
        ip(&["link", "set", &host_link, "up"])?;
        ip(&[
            "netns",
            "exec",
            &namespace,
            "ip",
            "addr",
            "add",
            &format!("{inner_ip}/30"),
            "dev",
            &inner_link,
        ])?;
        ip(&[
            "netns",
            "exec",
            &namespace,
            "ip",
            "link",
            "set",
            &inner_link,
            "up",
        ])?;
        ip(&["netns", "exec", &namespace, "ip", "link", "set", "lo", "up"])?;
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/receiver.py");
        let log = this.log.path().to_str().unwrap_or_default().to_owned();
        let child = Command::new("ip")
            .args([
                "netns", "exec", &namespace, "python3", script, &inner_ip, "8099", &log,
            ])
            .spawn()
            .map_err(|e| format!("starting the receiver: {e}"))?;
        this.receiver = Some(child);
        Ok(this)
    }

    fn received(&self) -> Vec<String> {
        std::fs::read_to_string(self.log.path())
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Takes the namespace's end of the link down: the host keeps its route (now without
    /// carrier), so packets are lost on the link, as in a real partition. Should the host
    /// route go, the guard route refuses them here.
    fn partition(&self) {
        self.inner_link("down");
    }

    fn heal(&self) {
        self.inner_link("up");
    }

    fn inner_link(&self, state: &str) {
        let (ns, link) = (&self.namespace, &self.inner_link);
        ip(&["netns", "exec", ns, "ip", "link", "set", link, state])
            .expect("the link changes state");
    }
}

impl Drop for IsolatedReceiver {
    fn drop(&mut self) {
        if let Some(mut child) = self.receiver.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = ip(&["link", "del", &self.host_link]);
        let _ = ip(&["netns", "del", &self.namespace]);
        let _ = ip(&[
            "route",
            "del",
            "unreachable",
            &self.subnet,
            "metric",
            "10000",
        ]);
    }
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_real_partition_from_the_receiver_heals(pool: PgPool) {
    let receiver = match IsolatedReceiver::start() {
        Ok(receiver) => receiver,
        Err(reason) => {
            eprintln!("skipped: no network namespace here ({reason})");
            return;
        }
    };
    let cluster = Cluster::start(
        pool,
        &[("HERALD_ALLOW_PRIVATE_CIDRS", "127.0.0.0/8,10.213.0.0/16")],
        1,
    )
    .await;
    let key = cluster.tenant("acme").await;
    cluster.webhook(&key, &receiver.url).await;
    let emitting = cluster.emitter.emit_many(&key, 0..100, 4);
    let partition = async {
        eventually(
            "deliveries across the veth link",
            Duration::from_secs(30),
            || async { (receiver.received().len() >= 10).then_some(()) },
        )
        .await;
        receiver.partition();
        tokio::time::sleep(Duration::from_secs(2)).await;
        receiver.heal();
    };
    tokio::join!(emitting, partition);
    let settled = assert_settled(
        &cluster.pool,
        || receiver.received(),
        100,
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(
        settled.success, 100,
        "attempts cut by the partition were retried: {settled:?}"
    );
    eprintln!("network namespace partition drill: {settled:?}");
}
