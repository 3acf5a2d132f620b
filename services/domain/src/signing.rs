//! Webhook signatures, both as the contract shows them:
//! - `webhook-signature` (Standard Webhooks): `v1,` + base64 HMAC-SHA256(key, "{id}.{ts}.{body}"),
//!   one per active secret, space-separated, so receivers keep verifying across a rotation;
//! - `X-Webhook-Signature`: `sha256=` + hex HMAC-SHA256(key, "{ts}.{body}"), newest secret.

use std::fmt::Write as _;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::WebhookSecret;
use crate::traceparent::hex;

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for part in parts {
        mac.update(part);
    }
    let mut digest = [0; 32];
    digest.copy_from_slice(&mac.finalize().into_bytes());
    digest
}

/// `v1,<base64>` for one secret.
pub fn standard_signature(key: &[u8], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut signature = String::with_capacity(SIGNATURE_LEN);
    push_standard_signature(&mut signature, key, msg_id, &timestamp.to_string(), body);
    signature
}

/// `v1,` and 44 characters of base64.
const SIGNATURE_LEN: usize = 47;

fn push_standard_signature(out: &mut String, key: &[u8], msg_id: &str, ts: &str, body: &[u8]) {
    let digest = mac(key, &[msg_id.as_bytes(), b".", ts.as_bytes(), b".", body]);
    out.push_str("v1,");
    STANDARD.encode_string(digest, out);
}

/// The `webhook-signature` header value: one `v1,` signature per secret, built in one string
/// (the dispatcher signs every request).
pub fn standard_signature_header(
    secrets: &[WebhookSecret],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    let ts = timestamp.to_string();
    let mut header = String::with_capacity(secrets.len() * (SIGNATURE_LEN + 1));
    for (i, secret) in secrets.iter().enumerate() {
        if i > 0 {
            header.push(' ');
        }
        push_standard_signature(&mut header, secret.key(), msg_id, &ts, body);
    }
    header
}

/// The `X-Webhook-Signature` header value.
pub fn hex_signature(key: &[u8], timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let digest = mac(key, &[ts.as_bytes(), b".", body]);
    let mut signature = String::with_capacity(7 + 2 * digest.len());
    // Writing to a `String` cannot fail.
    let _ = write!(signature, "sha256={}", hex(&digest));
    signature
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Standard Webhooks reference test vector.
    #[test]
    fn matches_the_standard_webhooks_vector() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let signature = standard_signature(
            secret.key(),
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            body,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn every_secret_signs() {
        let a = WebhookSecret::generate();
        let b = WebhookSecret::generate();
        let header = standard_signature_header(&[a.clone(), b.clone()], "msg_1", 10, b"{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(
            parts,
            [
                standard_signature(a.key(), "msg_1", 10, b"{}"),
                standard_signature(b.key(), "msg_1", 10, b"{}"),
            ]
        );
    }

    /// The same key and body as the Standard Webhooks vector; the digest computed apart (with
    /// Python's `hmac`).
    #[test]
    fn hex_signature_matches_a_known_digest() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            hex_signature(secret.key(), 1614265330, br#"{"test": 2432232314}"#),
            "sha256=e96203c6de850e7dc1fde7489ef6140b402d3a5a64fe250cd2eef9830fac1cef"
        );
    }

    #[test]
    fn hex_signature_covers_timestamp_and_body() {
        let key = b"0123456789abcdef0123456789abcdef";
        let one = hex_signature(key, 1, b"{}");
        assert!(one.starts_with("sha256="));
        assert_eq!(one.len(), 7 + 64);
        assert_ne!(one, hex_signature(key, 2, b"{}"));
        assert_ne!(one, hex_signature(key, 1, b"{ }"));
    }
}
