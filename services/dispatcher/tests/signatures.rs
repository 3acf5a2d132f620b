//! Herald's signatures checked the way receivers check them, on a real delivery captured by
//! a test receiver: with the Standard Webhooks library from PyPI (`standardwebhooks`, run by
//! `tests/signatures/verify.py`) and with a plain HMAC-SHA256 check of `X-Webhook-Signature`
//! written here. The webhook has two active secrets, as during a rotation.
//!
//! The library comes from `scripts/install-test-tools.sh standardwebhooks`, which
//! `scripts/test.sh` runs; there (`HERALD_TEST_STANDARDWEBHOOKS_PYTHON` set) a missing library
//! fails the test. Run bare without it, the library half is skipped with the reason printed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use herald_domain::{WebhookId, WebhookSecret};
use herald_test_support::stack::Stack;
use herald_test_support::{Receiver, Reply, eventually};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use sqlx::PgPool;

const PYTHON_VARIABLE: &str = "HERALD_TEST_STANDARDWEBHOOKS_PYTHON";

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn receivers_verify_herald_signatures(pool: PgPool) {
    let stack = Stack::start(pool, &[]).await;
    let key = stack.tenant("acme").await;
    let receiver = Receiver::always(Reply::Status(204)).await;
    let (webhook, old) = stack.webhook(&key, &receiver.url()).await;
    let new = WebhookSecret::generate().expose();
    rotate(&stack, &webhook, &new).await;

    stack
        .emit(&key, json!({ "order_id": "o1", "note": "café ✓" }))
        .await;
    eventually("the delivery", Duration::from_secs(10), || async {
        (receiver.count() == 1).then_some(())
    })
    .await;
    let request = &receiver.received()[0];
    let header = |name: &str| request.header(name).expect(name).to_owned();
    let signatures = header("webhook-signature");
    assert_eq!(signatures.split(' ').count(), 2, "{signatures}");

    // (b) The plain check: hex HMAC-SHA256 of "{timestamp}.{body}" with the newest key.
    let timestamp = header("x-webhook-timestamp");
    let signed = [timestamp.as_bytes(), b".", &request.body].concat();
    let expected = format!("sha256={}", hex::encode(hmac(&key_of(&new), &signed)));
    assert_eq!(header("x-webhook-signature"), expected);
    assert_ne!(
        header("x-webhook-signature"),
        format!("sha256={}", hex::encode(hmac(&key_of(&old), &signed))),
        "X-Webhook-Signature is the newest secret's"
    );

    // (a) The Standard Webhooks library, with each active secret.
    let Some(python) = standard_webhooks_python() else {
        return;
    };
    let headers: serde_json::Map<String, Value> =
        ["webhook-id", "webhook-timestamp", "webhook-signature"]
            .into_iter()
            .map(|name| (name.to_owned(), Value::from(header(name))))
            .collect();
    let captured = json!({
        "secrets": [new, old],
        "headers": headers,
        "body": String::from_utf8(request.body.clone()).expect("a UTF-8 body"),
    });
    let printed = run_python(&python, &script(), &captured.to_string());
    assert_eq!(
        printed.lines().collect::<Vec<_>>(),
        [
            "verified with secret 0",
            "verified with secret 1",
            "changed body refused",
            "stale timestamp refused",
            "other secret refused",
        ]
    );
}

/// Adds `secret` as the newest of the webhook's secrets; the old one stays active, as during
/// a rotation.
async fn rotate(stack: &Stack, webhook: &str, secret: &str) {
    let id: WebhookId = webhook.parse().expect("a webhook id");
    sqlx::query(
        "UPDATE webhooks SET secrets = jsonb_build_array(jsonb_build_object(\
         'secret', $1::text, 'created_at', now(), 'expires_at', NULL)) || secrets \
         WHERE id = $2",
    )
    .bind(secret)
    .bind(id.as_uuid())
    .execute(&stack.pool)
    .await
    .expect("the secret is added");
}

fn key_of(secret: &str) -> Vec<u8> {
    let encoded = secret.strip_prefix("whsec_").expect("a whsec_ secret");
    STANDARD.decode(encoded).expect("base64")
}

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/signatures/verify.py")
}

/// A Python that can import `standardwebhooks`: the one `scripts/test.sh` names (which must
/// work), else the installer's venv, else `python3`; `None`, with the reason printed, when
/// there is none.
fn standard_webhooks_python() -> Option<PathBuf> {
    let imports = |python: &Path| {
        Command::new(python)
            .args(["-c", "import standardwebhooks"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if let Some(required) = std::env::var_os(PYTHON_VARIABLE) {
        let python = PathBuf::from(required);
        assert!(
            imports(&python),
            "{PYTHON_VARIABLE}={} cannot import standardwebhooks: \
             run scripts/install-test-tools.sh standardwebhooks",
            python.display()
        );
        return Some(python);
    }
    let venv =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/standardwebhooks/bin/python");
    let found = [venv, PathBuf::from("python3")]
        .into_iter()
        .find(|python| imports(python));
    if found.is_none() {
        eprintln!(
            "skipped: the standardwebhooks half; no Python here imports standardwebhooks \
             (scripts/install-test-tools.sh standardwebhooks installs it)"
        );
    }
    found
}

fn run_python(python: &Path, script: &Path, stdin: &str) -> String {
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("the capture is written");
    let output = child.wait_with_output().expect("python finishes");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    assert!(
        output.status.success(),
        "verify.py failed:\n{stdout}\n{stderr}"
    );
    stdout
}
