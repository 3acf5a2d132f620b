use sqlx::PgPool;

use crate::helpers::spawn_app;

const JSON: &str = "application/json";

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_repeated_key_replays_the_first_answer(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    app.event_type(&key, "order.created").await;
    app.webhook(&key, &[]).await;
    let headers = [("Idempotency-Key", "order-1042")];
    let body = br#"{"type": "order.created", "payload": {"a": 1, "b": [1, 2]}}"#.to_vec();
    let first = app
        .call_raw(
            poem::http::Method::POST,
            "/events",
            &key,
            JSON,
            body,
            &headers,
        )
        .await
        .expect(201);
    assert!(first.headers.get("Idempotent-Replayed").is_none());
    // The same request, keys reordered and spaced differently.
    let again = br#"{"payload":{"b":[1,2],"a":1},"type":"order.created"}"#.to_vec();
    let second = app
        .call_raw(
            poem::http::Method::POST,
            "/events",
            &key,
            JSON,
            again,
            &headers,
        )
        .await
        .expect(201);
    assert_eq!(second.body, first.body);
    assert_eq!(second.headers.get("Idempotent-Replayed").unwrap(), "true");
    assert_eq!(app.count("SELECT count(*) FROM events").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM deliveries").await, 1);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_key_reused_with_another_request_is_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    app.event_type(&key, "order.created").await;
    let headers = [("Idempotency-Key", "k1")];
    let post = |payload: &str| {
        let body = format!(r#"{{"type": "order.created", "payload": {payload}}}"#).into_bytes();
        app.call_raw(
            poem::http::Method::POST,
            "/events",
            &key,
            JSON,
            body,
            &headers,
        )
    };
    post(r#"{"n": 1}"#).await.expect(201);
    let reply = post(r#"{"n": 2}"#).await.expect(422);
    assert_eq!(reply.error(), "idempotency_key_reused");
    assert_eq!(app.count("SELECT count(*) FROM events").await, 1);

    // After 24 hours the key is free again.
    sqlx::query("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
        .execute(&app.pool)
        .await
        .unwrap();
    post(r#"{"n": 2}"#).await.expect(201);
    assert_eq!(app.count("SELECT count(*) FROM events").await, 2);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn keys_are_scoped_to_the_tenant(pool: PgPool) {
    let app = spawn_app(pool).await;
    let a = app.tenant("tenant-a").await;
    let b = app.tenant("tenant-b").await;
    let headers = [("Idempotency-Key", "shared")];
    let body = br#"{"type": "t", "payload": {}}"#;
    for key in [&a, &b] {
        app.event_type(key, "t").await;
        app.call_raw(
            poem::http::Method::POST,
            "/events",
            key,
            JSON,
            body.to_vec(),
            &headers,
        )
        .await
        .expect(201);
    }
    assert_eq!(app.count("SELECT count(*) FROM events").await, 2);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn concurrent_requests_with_one_key_store_one_event(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    app.event_type(&key, "order.created").await;
    app.webhook(&key, &[]).await;
    let headers = [("Idempotency-Key", "race")];
    let body = br#"{"type": "order.created", "payload": {"x": 1}}"#;
    let requests = (0..8).map(|_| {
        app.call_raw(
            poem::http::Method::POST,
            "/events",
            &key,
            JSON,
            body.to_vec(),
            &headers,
        )
    });
    let replies = futures::future::join_all(requests).await;
    let ids: std::collections::HashSet<String> =
        replies.into_iter().map(|r| r.expect(201).id()).collect();
    assert_eq!(ids.len(), 1, "every answer names the same event");
    assert_eq!(app.count("SELECT count(*) FROM events").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM deliveries").await, 1);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn malformed_keys_are_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    app.event_type(&key, "t").await;
    let long = "k".repeat(256);
    for bad in [long.as_str(), "has space"] {
        let reply = app
            .call_raw(
                poem::http::Method::POST,
                "/events",
                &key,
                JSON,
                br#"{"type":"t","payload":{}}"#.to_vec(),
                &[("Idempotency-Key", bad)],
            )
            .await;
        assert_eq!(reply.expect(400).error(), "invalid_idempotency_key");
    }
    assert_eq!(app.count("SELECT count(*) FROM events").await, 0);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn expired_answers_are_deleted_by_housekeeping(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    app.event_type(&key, "t").await;
    for idempotency_key in ["old", "fresh"] {
        app.call_raw(
            poem::http::Method::POST,
            "/events",
            &key,
            JSON,
            br#"{"type":"t","payload":{}}"#.to_vec(),
            &[("Idempotency-Key", idempotency_key)],
        )
        .await
        .expect(201);
    }
    sqlx::query(
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'old'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let deleted = herald_ingest::maintenance::expire_idempotency_keys(&app.pool)
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    let left: Vec<String> = sqlx::query_scalar("SELECT key FROM idempotency_keys")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(left, ["fresh"]);
}
