use poem::http::Method;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::spawn_app;

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn an_event_gets_one_pending_delivery_per_matching_webhook(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    app.event_type(&key, "order.created").await;
    app.event_type(&key, "user.updated").await;
    let all_types = app.webhook(&key, &[]).await;
    let orders = app.webhook(&key, &["order.created"]).await;
    let _users = app.webhook(&key, &["user.updated"]).await;
    let disabled = app.webhook(&key, &[]).await;
    app.patch(
        &key,
        &format!("/webhooks/{disabled}"),
        json!({ "enabled": false }),
    )
    .await
    .expect(200);
    let deleted = app.webhook(&key, &[]).await;
    app.delete(&key, &format!("/webhooks/{deleted}"))
        .await
        .expect(204);

    let reply = app
        .emit(&key, "order.created", json!({ "order_id": "o1" }))
        .await
        .expect(201);
    let event = reply.id();
    assert!(event.starts_with("evt_"));
    let mut targets: Vec<&str> = reply.body["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(d["status"], "pending");
            assert!(d["id"].as_str().unwrap().starts_with("msg_"));
            d["webhook_id"].as_str().unwrap()
        })
        .collect();
    targets.sort();
    let mut expected = vec![all_types.as_str(), orders.as_str()];
    expected.sort();
    assert_eq!(targets, expected);
    // JetStream confirmed both jobs before the answer; the record of it, the event leaving
    // the outbox it entered with its deliveries, follows a moment later.
    let in_outbox = "SELECT count(*) FROM event_outbox";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while app.count(in_outbox).await > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.count(in_outbox).await,
        0,
        "jobs are on JetStream for the dispatcher"
    );
    let pending = "SELECT count(*) FROM deliveries WHERE status = 'pending'";
    assert_eq!(app.count(pending).await, 2);

    let shown = app.get(&key, &format!("/events/{event}")).await.expect(200);
    assert_eq!(shown.body["type"], "order.created");
    assert_eq!(shown.body["payload"], json!({ "order_id": "o1" }));
    let listed = app
        .get(&key, &format!("/events/{event}/deliveries"))
        .await
        .expect(200);
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 2);
    let delivery = listed.body["items"][0]["id"].as_str().unwrap();
    let one = app
        .get(&key, &format!("/deliveries/{delivery}"))
        .await
        .expect(200);
    assert_eq!(one.body["status"], "pending");
    assert_eq!(one.body["attempts"], json!([]));
    assert_eq!(one.body["event_id"], event.as_str());
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn the_given_timestamp_is_kept(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    app.event_type(&key, "order.created").await;
    let body =
        json!({ "type": "order.created", "timestamp": "2026-01-02T03:04:05Z", "payload": {} });
    let reply = app.post(&key, "/events", body).await.expect(201);
    let kept: chrono::DateTime<chrono::Utc> =
        reply.body["timestamp"].as_str().unwrap().parse().unwrap();
    assert_eq!(kept.to_rfc3339(), "2026-01-02T03:04:05+00:00");
    assert_eq!(reply.body["deliveries"], json!([]));
    let bad = app
        .post(
            &key,
            "/events",
            json!({ "type": "order.created", "timestamp": "yesterday", "payload": {} }),
        )
        .await
        .expect(400);
    assert!(bad.message().starts_with("timestamp:"), "{}", bad.message());
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn unknown_types_are_refused_with_the_allowed_ones(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    let none = app.emit(&key, "order.created", json!({})).await.expect(422);
    assert_eq!(none.error(), "unknown_event_type");
    app.event_type(&key, "order.created").await;
    app.event_type(&key, "user.updated").await;
    let reply = app.emit(&key, "order.deleted", json!({})).await.expect(422);
    assert!(
        reply.message().contains("order.created, user.updated"),
        "{}",
        reply.message()
    );
    app.emit(&key, "not a type!", json!({})).await.expect(422);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn malformed_bodies_are_client_errors(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    app.event_type(&key, "order.created").await;
    let json = "application/json";
    let cases: [(&str, &[u8], u16, &str); 11] = [
        (json, b"{\"type\": \"order.created\", ", 400, "invalid_json"),
        (json, b"", 400, "invalid_json"),
        (json, b"{\"payload\": {}}", 400, "invalid_request"),
        (
            json,
            b"{\"type\": 1, \"payload\": {}}",
            400,
            "invalid_request",
        ),
        (
            json,
            b"{\"type\": \"order.created\", \"payload\": {}, \"extra\": 1}",
            400,
            "invalid_request",
        ),
        (
            json,
            b"{\"type\": \"order.created\", \"payload\": [1]}",
            400,
            "invalid_payload",
        ),
        // PostgreSQL's jsonb cannot hold a NUL character, in a value or in a key.
        (
            json,
            b"{\"type\": \"order.created\", \"payload\": {\"a\": [\"x\\u0000y\"]}}",
            400,
            "invalid_payload",
        ),
        (
            json,
            b"{\"type\": \"order.created\", \"payload\": {\"k\\u0000\": 1}}",
            400,
            "invalid_payload",
        ),
        // Read as text, then refused as a tree would have been: a lone surrogate (which
        // PostgreSQL refuses too) and a number out of a double's range.
        (
            json,
            b"{\"type\": \"order.created\", \"payload\": {\"a\": \"\\ud800\"}}",
            400,
            "invalid_json",
        ),
        (
            json,
            b"{\"type\": \"order.created\", \"payload\": {\"a\": 1e400}}",
            400,
            "invalid_json",
        ),
        (
            "text/plain",
            b"{\"type\": \"order.created\", \"payload\": {}}",
            415,
            "unsupported_media_type",
        ),
    ];
    for (content_type, body, status, code) in cases {
        let reply = app
            .call_raw(
                Method::POST,
                "/events",
                &key,
                content_type,
                body.to_vec(),
                &[],
            )
            .await;
        let shown = String::from_utf8_lossy(body);
        assert_eq!(reply.status.as_u16(), status, "{shown}: {:#}", reply.body);
        assert_eq!(reply.error(), code, "{shown}");
    }
    let missing = app
        .call_raw(
            Method::POST,
            "/events",
            &key,
            json,
            b"{\"payload\": {}}".to_vec(),
            &[],
        )
        .await;
    assert!(
        missing.message().contains("missing field `type`"),
        "{}",
        missing.message()
    );
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn payloads_over_the_tenant_limit_are_too_large(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    app.event_type(&key, "blob").await;
    let big = json!({ "data": "x".repeat(300 * 1024) });
    let reply = app.emit(&key, "blob", big.clone()).await.expect(413);
    assert_eq!(reply.error(), "payload_too_large");
    assert!(reply.message().contains("262144"));

    let quotas = json!({ "max_payload_bytes": 512 * 1024 });
    app.admin(Method::PUT, "/admin/tenants/acme/quotas", Some(quotas))
        .await
        .expect(200);
    app.emit(&key, "blob", big).await.expect(201);
    let huge = json!({ "data": "x".repeat(5 * 1024 * 1024) });
    app.emit(&key, "blob", huge).await.expect(413);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn payloads_are_checked_against_the_type_schema(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    let schema = json!({
        "type": "object",
        "required": ["order_id", "amount"],
        "properties": { "order_id": { "type": "string" }, "amount": { "type": "integer", "minimum": 0 } },
    });
    app.post(
        &key,
        "/event-types",
        json!({ "name": "order.created", "schema": schema }),
    )
    .await
    .expect(201);
    app.emit(
        &key,
        "order.created",
        json!({ "order_id": "o1", "amount": 5 }),
    )
    .await
    .expect(201);
    let reply = app
        .emit(
            &key,
            "order.created",
            json!({ "order_id": "o1", "amount": -5 }),
        )
        .await
        .expect(422);
    assert_eq!(reply.error(), "schema_validation_failed");
    assert!(
        reply.message().contains("payload/amount"),
        "{}",
        reply.message()
    );
    let missing = app
        .emit(&key, "order.created", json!({ "amount": 1 }))
        .await
        .expect(422);
    assert!(
        missing.message().contains("order_id"),
        "{}",
        missing.message()
    );
    assert_eq!(
        app.count("SELECT count(*) FROM events").await,
        1,
        "refused events are not stored"
    );
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn unknown_events_and_deliveries_are_not_found(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    for path in [
        "/events/evt_0193a1b2c3d47e8f9a0b1c2d3e4f5a6b",
        "/events/evt_0193a1b2c3d47e8f9a0b1c2d3e4f5a6b/deliveries",
        "/events/nope",
        "/deliveries/msg_0193a1b2c3d47e8f9a0b1c2d3e4f5a6b",
        "/deliveries/nope",
    ] {
        assert_eq!(
            app.get(&key, path).await.expect(404).error(),
            "not_found",
            "{path}"
        );
    }
}
