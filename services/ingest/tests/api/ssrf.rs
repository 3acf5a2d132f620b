//! SSRF at registration: every spelling of an internal address, names that resolve inside,
//! and ports outside the allow-list are refused by `POST /webhooks` and `PATCH /webhooks/{id}`
//! with 400 `invalid_url` and a message that says why.

use herald_test_support::ScriptedDns;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{TestApp, spawn_app, spawn_app_resolving, spawn_app_with};

/// A spelling of an internal target, and what the refusal must say about it.
const INTERNAL: &[(&str, &str)] = &[
    (
        "http://2130706433/",
        "127.0.0.1 is a loopback address (127.0.0.0/8)",
    ),
    ("http://0x7f000001/", "127.0.0.1 is a loopback address"),
    ("http://0177.0.0.1/", "127.0.0.1 is a loopback address"),
    ("http://127.1/", "127.0.0.1 is a loopback address"),
    ("http://127.0.0.1./", "127.0.0.1 is a loopback address"),
    ("http://%31%32%37.0.0.1/", "127.0.0.1 is a loopback address"),
    (
        "http://[::ffff:127.0.0.1]/",
        "carries 127.0.0.1, a loopback address",
    ),
    (
        "http://[::127.0.0.1]/",
        "carries 127.0.0.1, a loopback address",
    ),
    (
        "http://[2002:a9fe:a9fe::]/",
        "carries 169.254.169.254, a link-local",
    ),
    ("http://0.0.0.0/", "0.0.0.0 is a \"this network\" address"),
    ("http://[::]/", "the unspecified address (::)"),
    ("http://[::1]/", "the loopback address (::1)"),
    ("http://localhost./", "localhost. names an internal host"),
    (
        "http://app.localhost/",
        "app.localhost names an internal host",
    ),
    ("http://metadata.google.internal/", "names an internal host"),
    (
        "http://169.254.169.254/latest/meta-data/",
        "link-local address",
    ),
    ("http://100.64.0.1/", "carrier-grade NAT"),
    ("http://198.18.0.1/", "benchmarking"),
    ("http://240.0.0.1/", "reserved"),
    ("http://255.255.255.255/", "the broadcast address"),
    ("http://224.0.0.251/", "multicast"),
    ("http://192.0.2.10/", "documentation"),
    ("http://[fc00::1]/", "unique local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://[ff02::1]/", "multicast"),
    ("http://[64:ff9b::7f00:1]/", "NAT64"),
    ("http://[64:ff9b:1::1]/", "NAT64"),
];

async fn refused(app: &TestApp, key: &str, webhook: &str, url: &str, says: &str) {
    for reply in [
        app.post(key, "/webhooks", json!({ "url": url })).await,
        app.patch(key, webhook, json!({ "url": url })).await,
    ] {
        let reply = reply.expect(400);
        assert_eq!(reply.error(), "invalid_url", "{url}");
        assert!(reply.message().contains(says), "{url}: {}", reply.message());
    }
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn every_spelling_of_an_internal_address_is_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    let id = app.webhook(&key, &[]).await;
    let webhook = format!("/webhooks/{id}");
    for (url, says) in INTERNAL {
        refused(&app, &key, &webhook, url, says).await;
    }
    assert_eq!(app.count("SELECT count(*) FROM webhooks").await, 1);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn ports_outside_the_allow_list_are_refused(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let key = app.tenant("acme").await;
    let id = app.webhook(&key, &[]).await;
    let webhook = format!("/webhooks/{id}");
    let allowed = "(allowed: 80,443,1024-65535)";
    for port in [22, 25, 1023] {
        let url = format!("https://hooks.example.com:{port}/");
        let says = format!("url: url port {port} is not allowed {allowed}");
        refused(&app, &key, &webhook, &url, &says).await;
    }
    for url in [
        "http://hooks.example.com/",
        "https://hooks.example.com:8443/",
    ] {
        app.post(&key, "/webhooks", json!({ "url": url }))
            .await
            .expect(201);
    }

    let strict = spawn_app_with(pool, &[("HERALD_ALLOWED_PORTS", "443")]).await;
    let says = "url port 80 is not allowed (allowed: 443)";
    refused(&strict, &key, &webhook, "http://hooks.example.com/", says).await;
    strict
        .post(
            &key,
            "/webhooks",
            json!({ "url": "https://hooks.example.com/" }),
        )
        .await
        .expect(201);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn names_that_resolve_inside_are_refused(pool: PgPool) {
    let dns = ScriptedDns::default();
    dns.answer("loopback.test", &[&["127.0.0.1"]])
        .answer("private.test", &[&["10.0.0.7", "fd00::7"]])
        .answer("mixed.test", &[&["10.0.0.7", "93.184.216.34"]])
        .answer("rebind.test", &[&["93.184.216.34"], &["127.0.0.1"]]);
    let app = spawn_app_resolving(pool, &[], &dns).await;
    let key = app.tenant("acme").await;
    let id = app.webhook(&key, &[]).await;
    let webhook = format!("/webhooks/{id}");
    let loopback = "url host loopback.test resolves only to refused addresses: \
                    127.0.0.1 is a loopback address (127.0.0.0/8)";
    refused(&app, &key, &webhook, "http://loopback.test/", loopback).await;
    let private = "10.0.0.7 is a private address (10.0.0.0/8); fd00::7 is a unique local";
    refused(&app, &key, &webhook, "https://private.test/", private).await;

    // A public answer beside an internal one is accepted: delivery connects only to the
    // public one. A name that does not resolve yet is accepted too; delivery checks again.
    for url in ["https://mixed.test/", "https://not-yet.test/"] {
        app.post(&key, "/webhooks", json!({ "url": url }))
            .await
            .expect(201);
    }
    // A rebinding name passes here with its public answer; delivery refuses its next one
    // (dispatcher/tests/delivery/ssrf.rs).
    app.post(&key, "/webhooks", json!({ "url": "https://rebind.test/" }))
        .await
        .expect(201);
    assert_eq!(dns.lookups("rebind.test"), 1);
}
