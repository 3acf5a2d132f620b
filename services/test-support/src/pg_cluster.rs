//! A throwaway PostgreSQL cluster of the test's own, which it may restart: initdb into a
//! temporary directory, run as the `postgres` user (initdb refuses root). Needs root to
//! switch user; `start` returns `None`, with the reason printed, where it cannot run.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};
use tempfile::TempDir;

pub struct PgCluster {
    dir: TempDir,
    bin: PathBuf,
    port: u16,
}

fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program}"))?;
    if !output.status.success() {
        bail!(
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

impl PgCluster {
    pub fn start() -> Option<Self> {
        match Self::try_start() {
            Ok(cluster) => Some(cluster),
            Err(error) => {
                eprintln!("skipped: no throwaway PostgreSQL cluster here ({error:#})");
                None
            }
        }
    }

    fn try_start() -> anyhow::Result<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .context("PostgreSQL binaries in /usr/lib/postgresql")?
            .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
            .filter(|bin| bin.join("initdb").is_file())
            .max()
            .context("an initdb")?;
        let dir = tempfile::tempdir().context("a directory for the cluster")?;
        let path = dir.path().to_str().context("a UTF-8 path")?.to_owned();
        run("chown", &["postgres:postgres", &path])?;
        let initdb = bin.join("initdb");
        let data = format!("{path}/data");
        run(
            "runuser",
            &[
                "-u",
                "postgres",
                "--",
                initdb.to_str().unwrap_or("initdb"),
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        )?;
        let port = crate::unused_port();
        let cluster = Self { dir, bin, port };
        cluster.pg_ctl(&["start"])?;
        Ok(cluster)
    }

    fn pg_ctl(&self, action: &[&str]) -> anyhow::Result<()> {
        let path = self.dir.path().to_str().unwrap_or_default();
        let options = format!(
            "-p {} -k {path} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port
        );
        let pg_ctl = self.bin.join("pg_ctl");
        let data = format!("{path}/data");
        let log = format!("{path}/log");
        let mut args = vec![
            "-u",
            "postgres",
            "--",
            pg_ctl.to_str().unwrap_or("pg_ctl"),
            "-D",
            &data,
            "-o",
            &options,
            "-l",
            &log,
            "-w",
        ];
        args.extend_from_slice(action);
        run("runuser", &args)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for `database` on this cluster.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Stops the server (fast: open connections are cut) and starts it again.
    pub fn restart(&self) -> anyhow::Result<()> {
        self.pg_ctl(&["-m", "fast", "restart"])
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["-m", "immediate", "stop"]);
    }
}
