//! What a receiver gets: the envelope and exactly the contract's headers, with signatures
//! checked by a verifier written here from the specification (not Herald's signing code).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use herald_test_support::{Receiver, Reply, eventually};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use sqlx::PgPool;

use herald_test_support::stack::{Stack, first_delivery};

pub(crate) fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// Standard Webhooks verification, as a receiver would write it.
pub(crate) fn verify_standard(
    secret: &str,
    id: &str,
    timestamp: &str,
    body: &[u8],
    header: &str,
) -> bool {
    let key = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let signed = [id.as_bytes(), b".", timestamp.as_bytes(), b".", body].concat();
    let expected = format!("v1,{}", STANDARD.encode(hmac(&key, &signed)));
    header.split(' ').any(|candidate| candidate == expected)
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn each_matching_webhook_gets_one_signed_request(pool: PgPool) {
    let stack = Stack::start(pool, &[]).await;
    let key = stack.tenant("acme").await;
    let first = Receiver::always(Reply::Status(200)).await;
    let second = Receiver::always(Reply::Status(204)).await;
    let (_, secret) = stack.webhook(&key, &first.url()).await;
    stack.webhook(&key, &second.url()).await;

    let answer = stack.emit(&key, json!({ "order_id": "o1" })).await;
    assert_eq!(answer["deliveries"].as_array().unwrap().len(), 2);
    for receiver in [&first, &second] {
        eventually(
            "the receiver to be called",
            Duration::from_secs(10),
            || async { (receiver.count() == 1).then_some(()) },
        )
        .await;
    }
    let request = &first.received()[0];
    let id = request.header("webhook-id").unwrap();
    let timestamp = request.header("webhook-timestamp").unwrap();
    let ids: Vec<&str> = answer["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&id), "webhook-id is the delivery id");
    assert_eq!(request.header("x-webhook-id"), Some(id));
    assert_eq!(request.header("x-webhook-timestamp"), Some(timestamp));
    assert_eq!(
        request.header("x-webhook-event-type"),
        Some("order.created")
    );
    assert_eq!(request.header("x-webhook-attempt"), Some("1"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    let age = chrono::Utc::now().timestamp() - timestamp.parse::<i64>().unwrap();
    assert!((0..30).contains(&age), "timestamp is the attempt's time");
    let traceparent = request.header("traceparent").unwrap();
    assert_eq!(
        traceparent.split('-').map(str::len).collect::<Vec<_>>(),
        [2, 32, 16, 2]
    );

    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["id"], answer["id"]);
    assert_eq!(body["type"], "order.created");
    assert_eq!(body["data"], json!({ "order_id": "o1" }));
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));

    let standard = request.header("webhook-signature").unwrap();
    assert!(
        verify_standard(&secret, id, timestamp, &request.body, standard),
        "{standard}"
    );
    assert!(
        !verify_standard(&secret, id, timestamp, b"{}", standard),
        "a forged body fails"
    );
    let key_bytes = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let hex_expected = hex::encode(hmac(
        &key_bytes,
        &[timestamp.as_bytes(), b".", &request.body].concat(),
    ));
    assert_eq!(
        request.header("x-webhook-signature"),
        Some(format!("sha256={hex_expected}").as_str())
    );

    let delivery = stack
        .wait_for(&key, id, "success", Duration::from_secs(5))
        .await;
    assert_eq!(delivery["attempt_count"], 1);
    assert_eq!(delivery["attempts"][0]["status_code"], 200);
    stack
        .wait_for(
            &key,
            &first_delivery(&answer),
            "success",
            Duration::from_secs(5),
        )
        .await;
}
