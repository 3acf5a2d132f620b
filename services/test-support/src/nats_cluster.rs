//! A cluster of `nats-server`s with JetStream on loopback, for what depends on stream
//! replicas: each server with its own ports and store, all killed when dropped.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tempfile::TempDir;

use crate::{NatsServer, unused_port};

struct Member {
    child: Option<Child>,
    name: String,
    client_port: u16,
    _store: TempDir,
}

pub struct NatsCluster {
    members: Vec<Member>,
}

impl NatsCluster {
    /// Starts `size` servers routed to each other and waits until JetStream can create a
    /// stream with a copy on every one of them.
    pub fn start(size: usize) -> anyhow::Result<Self> {
        let ports: Vec<(u16, u16)> = (0..size).map(|_| (unused_port(), unused_port())).collect();
        let routes = ports
            .iter()
            .map(|(_, route)| format!("nats://127.0.0.1:{route}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut members = Vec::new();
        for (n, (client_port, route_port)) in ports.into_iter().enumerate() {
            let store = tempfile::tempdir().context("creating a NATS store directory")?;
            let name = format!("n{n}");
            let child = Command::new(NatsServer::binary())
                .args(["-a", "127.0.0.1", "-p", &client_port.to_string(), "-js"])
                .args(["--server_name", &name, "--cluster_name", "herald_test"])
                .args(["--cluster", &format!("nats://127.0.0.1:{route_port}")])
                .args(["--routes", &routes, "--store_dir"])
                .arg(store.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .with_context(|| format!("starting {}", NatsServer::binary().display()))?;
            members.push(Member {
                child: Some(child),
                name,
                client_port,
                _store: store,
            });
        }
        let cluster = Self { members };
        cluster.wait_until_replicating(size)?;
        Ok(cluster)
    }

    /// Every running server's address, for a client that fails over between them.
    pub fn urls(&self) -> Vec<async_nats::ServerAddr> {
        self.members
            .iter()
            .filter(|m| m.child.is_some())
            .filter_map(|m| format!("nats://127.0.0.1:{}", m.client_port).parse().ok())
            .collect()
    }

    /// Kills (SIGKILL) the server named `name` (`n0`, `n1`, ... as JetStream reports them).
    pub fn kill(&mut self, name: &str) {
        for member in self.members.iter_mut().filter(|m| m.name == name) {
            if let Some(mut child) = member.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// A replicated stream can be created (and deleted) once the servers have found each
    /// other and elected a JetStream meta leader.
    fn wait_until_replicating(&self, replicas: usize) -> anyhow::Result<()> {
        let urls = self.urls();
        let probe = std::thread::spawn(move || -> anyhow::Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("a runtime for the cluster probe")?;
            runtime.block_on(async {
                let deadline = Instant::now() + Duration::from_secs(30);
                let client = loop {
                    match async_nats::connect(urls.clone()).await {
                        Ok(client) => break client,
                        Err(error) if Instant::now() >= deadline => {
                            bail!("no server of the cluster answered: {error}")
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                };
                let js = async_nats::jetstream::new(client);
                let config = async_nats::jetstream::stream::Config {
                    name: "cluster_probe".into(),
                    subjects: vec!["cluster_probe".into()],
                    storage: async_nats::jetstream::stream::StorageType::Memory,
                    num_replicas: replicas,
                    ..Default::default()
                };
                loop {
                    match js.create_stream(config.clone()).await {
                        Ok(_) => {
                            js.delete_stream("cluster_probe")
                                .await
                                .context("deleting the probe stream")?;
                            return Ok(());
                        }
                        Err(error) if Instant::now() >= deadline => {
                            bail!("the cluster did not replicate a stream within 30 s: {error}")
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
            })
        });
        probe
            .join()
            .map_err(|_| anyhow::anyhow!("the cluster probe panicked"))?
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for member in &mut self.members {
            if let Some(mut child) = member.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
