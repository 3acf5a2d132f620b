//! A throwaway certificate authority for TLS tests, made with the `openssl` command: a CA, a
//! server certificate for 127.0.0.1 and localhost, and a client certificate, all signed by
//! it and valid for two days.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use tempfile::TempDir;

/// A new P-256 key, unencrypted.
const NEW_KEY: [&str; 5] = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
];

pub struct TestCertificates {
    dir: TempDir,
}

impl TestCertificates {
    pub fn generate() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("a directory for the certificates")?;
        let at = dir.path();
        let ca = [
            &["req", "-x509"][..],
            &NEW_KEY,
            &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"],
            &["-subj", "/CN=herald-test-ca"],
        ];
        openssl(at, &ca.concat())?;
        let server_extensions =
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n";
        issue(at, "server", "/CN=127.0.0.1", server_extensions)?;
        issue(at, "client", "/CN=herald", "extendedKeyUsage=clientAuth\n")?;
        Ok(Self { dir })
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// (certificate, key) of the server.
    pub fn server(&self) -> (PathBuf, PathBuf) {
        (
            self.dir.path().join("server.pem"),
            self.dir.path().join("server.key"),
        )
    }

    /// (certificate, key) of the client.
    pub fn client(&self) -> (PathBuf, PathBuf) {
        (
            self.dir.path().join("client.pem"),
            self.dir.path().join("client.key"),
        )
    }
}

/// A key and a certificate for `name`, signed by the CA, with `extensions`.
fn issue(at: &Path, name: &str, subject: &str, extensions: &str) -> anyhow::Result<()> {
    let (key, request, cert, ext) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
        format!("{name}.ext"),
    );
    std::fs::write(at.join(&ext), extensions).context("writing certificate extensions")?;
    let request_args = [
        &["req"][..],
        &NEW_KEY,
        &["-keyout", &key, "-out", &request, "-subj", subject],
    ];
    openssl(at, &request_args.concat())?;
    let sign_args = [
        &[
            "x509", "-req", "-in", &request, "-CA", "ca.pem", "-CAkey", "ca.key",
        ][..],
        &[
            "-CAcreateserial",
            "-out",
            &cert,
            "-days",
            "2",
            "-extfile",
            &ext,
        ],
    ];
    openssl(at, &sign_args.concat())
}

fn openssl(at: &Path, args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(at)
        .output()
        .context("running openssl (TLS tests make their certificates with it)")?;
    if !output.status.success() {
        bail!(
            "openssl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
