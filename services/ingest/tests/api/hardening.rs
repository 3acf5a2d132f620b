//! Guards around the API: failed authentication throttled per client address; security
//! headers on every answer; deeply nested JSON refused with a 400.

use poem::http::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::spawn_app;

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
