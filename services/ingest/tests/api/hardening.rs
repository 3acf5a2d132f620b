//! Guards around the API: failed authentication throttled per client address (behind a
//! trusted proxy, the address it forwards); security headers on every answer; deeply nested
//! JSON refused with a 400.

use poem::http::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{spawn_app, spawn_app_with};

const LIMIT: u32 = 30;

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn guessing_keys_is_throttled_per_address(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    let (base, _server) = app.listen().await;
    let http = reqwest::Client::new();
    let get = |token: &str| {
        http.get(format!("{base}/webhooks"))
            .bearer_auth(token)
            .send()
    };

    for n in 0..LIMIT {
        let answer = get(&format!("hk_guess{n}")).await.unwrap();
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    }
    let refused = get("hk_one_more").await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let body: Value = serde_json::from_str(&refused.text().await.unwrap()).unwrap();
    assert_eq!(body["error"], "too_many_failed_auth");
    // Even the right key waits: the address is not looked at key by key.
    assert_eq!(
        get(&key).await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// Behind a trusted proxy every request comes from the proxy's address: one client guessing
/// keys must not lock out the others, and is still throttled itself.
#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn behind_a_trusted_proxy_the_forwarded_client_is_throttled(pool: PgPool) {
    let app = spawn_app_with(pool, &[("HERALD_TRUSTED_PROXIES", "127.0.0.1")]).await;
    let key = app.tenant("acme").await;
    let (base, _server) = app.listen().await;
    let http = reqwest::Client::new();
    let get = |token: &str, client: &str| {
        http.get(format!("{base}/webhooks"))
            .bearer_auth(token)
            .header("x-forwarded-for", client)
            .send()
    };
    for n in 0..LIMIT {
        let answer = get(&format!("hk_guess{n}"), "203.0.113.7").await.unwrap();
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    }
    let guesser = get(&key, "203.0.113.7").await.unwrap();
    assert_eq!(guesser.status(), StatusCode::TOO_MANY_REQUESTS);
    // The guesser cannot start afresh by writing another address in front of the proxy's.
    let spoofed = get("hk_spoof", "192.0.2.99, 203.0.113.7").await.unwrap();
    assert_eq!(spoofed.status(), StatusCode::TOO_MANY_REQUESTS);
    let neighbour = get(&key, "203.0.113.8").await.unwrap();
    assert_eq!(neighbour.status(), StatusCode::OK);
}

/// Without trusted proxies `X-Forwarded-For` is the client's own word and is ignored: a new
/// address in it for every guess does not reset the count.
#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn forwarded_addresses_from_an_untrusted_peer_are_ignored(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (base, _server) = app.listen().await;
    let http = reqwest::Client::new();
    for n in 0..LIMIT {
        let answer = http
            .get(format!("{base}/webhooks"))
            .bearer_auth(format!("hk_guess{n}"))
            .header("x-forwarded-for", format!("198.51.100.{n}"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    }
    let refused = http
        .get(format!("{base}/webhooks"))
        .bearer_auth("hk_one_more")
        .header("x-forwarded-for", "198.51.100.200")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn answers_carry_security_headers(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (base, _server) = app.listen().await;
    for path in ["/docs", "/openapi.json", "/healthz", "/webhooks"] {
        let answer = reqwest::get(format!("{base}{path}")).await.unwrap();
        let headers = answer.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    }
    let docs = reqwest::get(format!("{base}/docs"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !docs.contains("src=\"http"),
        "the docs page loads nothing from elsewhere"
    );
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn deeply_nested_json_is_refused_with_a_400(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    app.event_type(&key, "order.created").await;
    let mut payload = json!(1);
    for _ in 0..200 {
        payload = json!([payload]);
    }
    let reply = app
        .post(
            &key,
            "/events",
            json!({ "type": "order.created", "payload": payload }),
        )
        .await
        .expect(400);
    assert_eq!(reply.error(), "invalid_json");
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn oversized_headers_are_refused_before_any_handler(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (base, _server) = app.listen().await;
    let http = reqwest::Client::new();

    let mut many = http.get(format!("{base}/healthz"));
    for n in 0..200 {
        many = many.header(format!("x-filler-{n}"), "x");
    }
    let huge = http
        .get(format!("{base}/healthz"))
        .header("x-filler", "x".repeat(512 * 1024));
    for (what, request) in [("200 headers", many), ("a 512 KiB header", huge)] {
        // The server answers 431 or closes the connection; it never serves the request.
        match request.send().await {
            Ok(answer) => assert_eq!(
                answer.status(),
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "{what}"
            ),
            Err(error) => assert!(!error.is_timeout(), "{what}: {error}"),
        }
    }
    let normal = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(normal.status(), StatusCode::OK);
}
