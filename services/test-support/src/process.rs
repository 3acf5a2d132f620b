//! Herald's services as child processes, to be stopped with SIGTERM or killed with SIGKILL
//! mid-load as in production. The binaries are the workspace's own build
//! (`cargo build --bins` first): found beside the test executable's `deps` directory.
//!
//! With `HERALD_DRILL_LOGS=<directory>`, each process's output (its JSON log lines, at
//! `RUST_LOG`, `warn` by default) goes to `<directory>/<name>-<test pid>-<n>.log`, so a
//! drill's timeline can be read from the services' own lines; otherwise stdout is dropped.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

pub struct ServiceProcess {
    name: String,
    child: Child,
}

/// `target/<profile>/<name>`, from the running test binary `target/<profile>/deps/<test>`.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in target/<profile>/deps");
    let path = profile_dir.join(name);
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build --bins` first",
        path.display()
    );
    path
}

/// A new file for one process's output under `HERALD_DRILL_LOGS`, if set.
fn log_file(name: &str) -> Option<std::fs::File> {
    static STARTED: AtomicUsize = AtomicUsize::new(0);
    let dir = PathBuf::from(std::env::var_os("HERALD_DRILL_LOGS")?);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    let n = STARTED.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!("{name}-{}-{n}.log", std::process::id()));
    let file =
        std::fs::File::create(&path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
    Some(file)
}

impl ServiceProcess {
    /// Starts `herald-<service>` with exactly these settings (plus PATH and RUST_LOG).
    pub fn spawn(service: &str, settings: &[(String, String)]) -> Self {
        let name = format!("herald-{service}");
        let mut command = Command::new(binary(&name));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .envs(settings.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        match log_file(&name) {
            Some(file) => {
                let copy = file.try_clone().expect("a second handle on the log file");
                command.stdout(file).stderr(copy);
            }
            None => {
                command.stdout(Stdio::null()).stderr(Stdio::inherit());
            }
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Self { name, child }
    }

    /// SIGKILL: the process dies wherever it is.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }

    /// SIGTERM, then waits for a clean exit; returns how long it took.
    pub async fn terminate(mut self, within: Duration) -> Duration {
        let started = Instant::now();
        let pid = self.child.id().map(|p| p.to_string()).unwrap_or_default();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(Ok(status)) => {
                assert!(
                    status.success(),
                    "{} exited with {status} on SIGTERM",
                    self.name
                );
                started.elapsed()
            }
            _ => panic!("{} did not stop within {within:?} of SIGTERM", self.name),
        }
    }
}
