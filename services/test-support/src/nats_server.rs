//! A private `nats-server` with JetStream for one test: a port of its own, its own store directory,
//! killed when dropped. Tests never share the machine's server.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::context::GetStreamErrorKind;
use tempfile::TempDir;

use crate::TestCertificates;

pub struct NatsServer {
    child: Child,
    url: String,
    port: u16,
    store: TempDir,
    setup: NatsSetup,
}

/// What the server asks of its clients.
#[derive(Clone, Default)]
pub struct NatsSetup {
    pub auth: NatsAuth,
    /// TLS with these certificates, clients verified against the same CA.
    pub tls: Option<Arc<TestCertificates>>,
}

impl NatsSetup {
    fn args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = self.auth.args().into_iter().map(Into::into).collect();
        if let Some(certificates) = &self.tls {
            let (cert, key) = certificates.server();
            args.extend(["--tlsverify".into(), "--tlscert".into(), cert.into()]);
            args.extend(["--tlskey".into(), key.into(), "--tlscacert".into()]);
            args.push(certificates.ca().into());
        }
        args
    }

    /// A client that meets what the server asks.
    fn client(&self) -> async_nats::ConnectOptions {
        let mut options = match self.auth {
            NatsAuth::Nothing => async_nats::ConnectOptions::new(),
            NatsAuth::UserAndPassword(user, password) => {
                async_nats::ConnectOptions::with_user_and_password(user.into(), password.into())
            }
            NatsAuth::Token(token) => async_nats::ConnectOptions::with_token(token.into()),
        };
        if let Some(certificates) = &self.tls {
            let (cert, key) = certificates.client();
            options = options
                .require_tls(true)
                .add_root_certificates(certificates.ca())
                .add_client_certificate(cert, key);
        }
        options
    }
}

/// What the server asks of a client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NatsAuth {
    #[default]
    Nothing,
    UserAndPassword(&'static str, &'static str),
    Token(&'static str),
}

impl NatsAuth {
    fn args(self) -> Vec<&'static str> {
        match self {
            Self::Nothing => vec![],
            Self::UserAndPassword(user, password) => vec!["--user", user, "--pass", password],
            Self::Token(token) => vec!["--auth", token],
        }
    }

    /// The URL's user part that satisfies it (`user:password@`, `token@`).
    fn in_url(self) -> String {
        match self {
            Self::Nothing => String::new(),
            Self::UserAndPassword(user, password) => format!("{user}:{password}@"),
            Self::Token(token) => format!("{token}@"),
        }
    }
}

impl NatsServer {
    /// The binary: `$HERALD_TEST_NATS_SERVER`, else `nats-server` on PATH, else Debian's.
    pub fn binary() -> PathBuf {
        if let Ok(path) = std::env::var("HERALD_TEST_NATS_SERVER") {
            return path.into();
        }
        let on_path = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("nats-server"))
                .find(|candidate| candidate.is_file())
        });
        on_path.unwrap_or_else(|| "/usr/sbin/nats-server".into())
    }

    pub fn start() -> anyhow::Result<Self> {
        Self::start_with(NatsSetup::default())
    }

    /// A server that lets in only clients proving `auth`; `url_with_credentials` does.
    pub fn start_requiring(auth: NatsAuth) -> anyhow::Result<Self> {
        Self::start_with(NatsSetup { auth, tls: None })
    }

    pub fn start_with(setup: NatsSetup) -> anyhow::Result<Self> {
        let store = tempfile::tempdir().context("creating the NATS store directory")?;
        // A fixed port, not `-p -1`: `resume` restarts the server on it.
        let child = spawn(&store, crate::unused_port(), &setup)?;
        let mut server = Self {
            child,
            url: String::new(),
            port: 0,
            store,
            setup,
        };
        server.url = server.wait_for_port()?;
        server.port = server
            .url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .context("reading the port from the URL")?;
        wait_for_jetstream(&server.url, server.setup.client())?;
        Ok(server)
    }

    /// Kills the server (SIGKILL: an abrupt outage); `resume` brings it back.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same port and store, after `stop`.
    pub fn resume(&mut self) -> anyhow::Result<()> {
        self.child = spawn(&self.store, self.port, &self.setup)?;
        self.wait_for_port()?;
        Ok(())
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL with the credentials the server asks for, as `NATS_URL` carries them (the
    /// server reports a `tls://` URL when it asks for TLS).
    pub fn url_with_credentials(&self) -> String {
        self.url
            .replacen("://", &format!("://{}", self.setup.auth.in_url()), 1)
    }

    /// The server writes `nats-server_<pid>.ports` once it listens.
    fn wait_for_port(&mut self) -> anyhow::Result<String> {
        let file = self
            .store
            .path()
            .join(format!("ports/nats-server_{}.ports", self.child.id()));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().context("polling nats-server")? {
                bail!("nats-server exited at start-up with {status}");
            }
            // The file may be caught half-written: an unreadable one is read again.
            let ports = std::fs::read_to_string(&file)
                .ok()
                .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok());
            if let Some(url) = ports.as_ref().and_then(|p| p["nats"][0].as_str()) {
                return Ok(url.to_owned());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        bail!("nats-server did not report its port within 10 s")
    }
}

/// The port is open before JetStream answers (recent servers take a moment to start it):
/// asks JetStream for a stream that does not exist until it answers that and a probe stream
/// can be created and deleted, on a thread of its own so that the caller may be inside a
/// runtime.
fn wait_for_jetstream(url: &str, client: async_nats::ConnectOptions) -> anyhow::Result<()> {
    let url = url.to_owned();
    let probe = std::thread::spawn(move || -> anyhow::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("a runtime for the JetStream probe")?;
        runtime.block_on(async {
            herald_runtime::nats::install_tls_provider();
            let client = client
                .connect(&url)
                .await
                .context("connecting to nats-server")?;
            let js = async_nats::jetstream::new(client);
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                // "No such stream" is JetStream answering; anything else means not yet.
                let answer = match js.get_stream("readiness_probe").await {
                    Ok(_) => return Ok(()),
                    Err(error) => error,
                };
                if let GetStreamErrorKind::JetStream(error) = answer.kind()
                    && error.error_code() == ErrorCode::STREAM_NOT_FOUND
                    && accepts_writes(&js).await
                {
                    return Ok(());
                }
                if Instant::now() >= deadline {
                    bail!("JetStream did not answer within 10 s: {answer}");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    });
    probe
        .join()
        .map_err(|_| anyhow::anyhow!("the JetStream probe panicked"))?
}

/// Whether JetStream creates (and deletes) a stream: on recent servers lookups are answered
/// a moment before the first stream or consumer can be created.
async fn accepts_writes(js: &async_nats::jetstream::Context) -> bool {
    let config = async_nats::jetstream::stream::Config {
        name: "readiness_probe".into(),
        subjects: vec!["readiness_probe".into()],
        storage: async_nats::jetstream::stream::StorageType::Memory,
        ..Default::default()
    };
    js.create_stream(config).await.is_ok() && js.delete_stream("readiness_probe").await.is_ok()
}

fn spawn(store: &TempDir, port: u16, setup: &NatsSetup) -> anyhow::Result<Child> {
    let ports_dir = store.path().join("ports");
    std::fs::create_dir_all(&ports_dir).context("creating the ports directory")?;
    let port = port.to_string();
    Command::new(NatsServer::binary())
        .args(["-a", "127.0.0.1", "-p", &port, "-js", "--store_dir"])
        .arg(store.path().join("js"))
        .arg("--ports_file_dir")
        .arg(&ports_dir)
        .args(setup.args())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", NatsServer::binary().display()))
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
