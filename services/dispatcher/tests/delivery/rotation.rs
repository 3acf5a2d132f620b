//! Secret rotation seen by a receiver: during the grace period `webhook-signature` carries a
//! signature by the new secret and one by the old, so a receiver holding either accepts the
//! delivery; `X-Webhook-Signature` uses the new secret; after a rotation without grace only
//! the newest secret signs.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use herald_test_support::stack::Stack;
use herald_test_support::{Received, Receiver, Reply, eventually};
use poem::http::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::contract::{hmac, verify_standard};

async fn rotate(stack: &Stack, key: &str, webhook: &str, body: Value) -> String {
    let path = format!("/webhooks/{webhook}/secret/rotate");
    let (status, answer) = stack.call(Method::POST, &path, key, Some(body)).await;
    assert_eq!(status.as_u16(), 200, "{answer}");
    answer["secret"].as_str().unwrap().to_owned()
}

async fn next_delivery(stack: &Stack, key: &str, receiver: &Receiver) -> Received {
    let before = receiver.count();
    stack.emit(key, json!({ "order_id": "o1" })).await;
    eventually("the delivery", Duration::from_secs(10), || async {
        (receiver.count() > before).then_some(())
    })
    .await;
    receiver.received().pop().unwrap()
}

fn verifies(secret: &str, request: &Received) -> bool {
    verify_standard(
        secret,
        request.header("webhook-id").unwrap(),
        request.header("webhook-timestamp").unwrap(),
        &request.body,
        request.header("webhook-signature").unwrap(),
    )
}

fn hex_signature(secret: &str, request: &Received) -> String {
    let key = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let timestamp = request.header("webhook-timestamp").unwrap();
    let signed = [timestamp.as_bytes(), b".", &request.body].concat();
    format!("sha256={}", hex::encode(hmac(&key, &signed)))
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn both_secrets_sign_during_the_grace_and_only_the_newest_after(pool: PgPool) {
    let stack = Stack::start(pool, &[]).await;
    let key = stack.tenant("acme").await;
    let receiver = Receiver::always(Reply::Status(200)).await;
    let (webhook, old) = stack.webhook(&key, &receiver.url()).await;

    let new = rotate(&stack, &key, &webhook, json!({})).await;
    let during = next_delivery(&stack, &key, &receiver).await;
    let signatures = during.header("webhook-signature").unwrap();
    assert_eq!(signatures.split(' ').count(), 2, "{signatures}");
    assert!(
        verifies(&old, &during),
        "a receiver still on the old secret accepts it"
    );
    assert!(
        verifies(&new, &during),
        "a receiver on the new secret accepts it"
    );
    assert_eq!(
        during.header("x-webhook-signature"),
        Some(hex_signature(&new, &during).as_str())
    );

    let newest = rotate(&stack, &key, &webhook, json!({ "grace_period": "0s" })).await;
    let after = next_delivery(&stack, &key, &receiver).await;
    assert_eq!(
        after
            .header("webhook-signature")
            .unwrap()
            .split(' ')
            .count(),
        1
    );
    assert!(verifies(&newest, &after));
    assert!(!verifies(&new, &after) && !verifies(&old, &after));
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn secrets_sealed_at_rest_sign_as_the_tenant_sees_them(pool: PgPool) {
    let key = herald_domain::sealing::Keyring::generate_key();
    let stack = Stack::start(pool, &[("HERALD_ENCRYPTION_KEY", &key)]).await;
    let tenant = stack.tenant("acme").await;
    let receiver = Receiver::always(Reply::Status(200)).await;
    let (_, secret) = stack.webhook(&tenant, &receiver.url()).await;
    let stored = stack
        .count("SELECT count(*) FROM webhooks WHERE secrets->0->>'secret' LIKE 'sealed:v1:%'")
        .await;
    assert_eq!(stored, 1, "the row holds the sealed form");

    let delivered = next_delivery(&stack, &tenant, &receiver).await;
    assert!(verifies(&secret, &delivered));
    assert_eq!(
        delivered.header("x-webhook-signature"),
        Some(hex_signature(&secret, &delivered).as_str())
    );
}
