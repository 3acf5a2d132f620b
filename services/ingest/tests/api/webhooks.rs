use poem::http::Method;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{spawn_app, spawn_app_with};

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_webhook_is_created_with_a_generated_secret(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    app.event_type(&key, "order.created").await;
    let reply = app
        .post(
            &key,
            "/webhooks",
            json!({ "url": "https://hooks.example.com/in", "event_types": ["order.created"], "description": "orders" }),
        )
        .await
        .expect(201);
    let id = reply.id();
    assert!(id.starts_with("wh_"));
    let secret = reply.body["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(reply.body["enabled"], true);
    assert_eq!(reply.body["event_types"], json!(["order.created"]));

    let shown = app.get(&key, &format!("/webhooks/{id}")).await.expect(200);
    assert_eq!(shown.body["url"], "https://hooks.example.com/in");
    assert!(shown.body.get("secret").is_none());
    let stored = app
        .get(&key, &format!("/webhooks/{id}/secret"))
        .await
        .expect(200);
    assert_eq!(stored.body["secret"], secret);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'webhook.created'")
            .await,
        1
    );
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_given_secret_is_kept_and_a_bad_one_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let reply = app
        .post(
            &key,
            "/webhooks",
            json!({ "url": "https://a.example.com/", "secret": secret }),
        )
        .await
        .expect(201);
    assert_eq!(reply.body["secret"], secret);
    for bad in ["plain", "whsec_c2hvcnQ=", "whsec_!!!"] {
        let reply = app
            .post(
                &key,
                "/webhooks",
                json!({ "url": "https://a.example.com/", "secret": bad }),
            )
            .await;
        assert_eq!(reply.expect(400).error(), "invalid_secret", "{bad}");
    }
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn urls_are_validated(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    let long = format!("https://example.com/{}", "a".repeat(2040));
    for url in [
        "not a url",
        "/relative/path",
        "ftp://example.com/",
        "https://user:pass@example.com/",
        long.as_str(),
        "http://127.0.0.1:8080/",
        "http://localhost/",
        "http://10.0.0.1/",
        "http://192.168.1.10/",
        "http://172.16.5.4/",
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.google.internal/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0x7f000001/",
    ] {
        let reply = app.post(&key, "/webhooks", json!({ "url": url })).await;
        assert_eq!(reply.expect(400).error(), "invalid_url", "{url}");
    }
    let wrong_type = app
        .post(&key, "/webhooks", json!({ "url": 42 }))
        .await
        .expect(400);
    assert!(
        wrong_type.message().starts_with("url:"),
        "{}",
        wrong_type.message()
    );
    let missing = app.post(&key, "/webhooks", json!({})).await.expect(400);
    assert!(missing.message().contains("missing field `url`"));
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn exempted_networks_may_be_targets(pool: PgPool) {
    let app = spawn_app_with(pool, &[("HERALD_ALLOW_PRIVATE_CIDRS", "127.0.0.0/8")]).await;
    let key = app.tenant("acme").await;
    app.post(
        &key,
        "/webhooks",
        json!({ "url": "http://127.0.0.1:9000/hook" }),
    )
    .await
    .expect(201);
    app.post(&key, "/webhooks", json!({ "url": "http://10.0.0.1/" }))
        .await
        .expect(400);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn filters_must_name_registered_types(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    app.event_type(&key, "order.created").await;
    let reply = app
        .post(&key, "/webhooks", json!({ "url": "https://a.example.com/", "event_types": ["order.created", "order.craeted"] }))
        .await;
    let reply = reply.expect(422);
    assert_eq!(reply.error(), "unknown_event_type");
    assert!(reply.message().contains("order.craeted"));
    assert!(!reply.message().contains("order.created,"));
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn webhooks_are_updated_listed_and_deleted(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    app.event_type(&key, "order.created").await;
    let first = app.webhook(&key, &[]).await;
    let second = app.webhook(&key, &[]).await;

    let path = format!("/webhooks/{first}");
    let updated = app
        .patch(&key, &path, json!({ "url": "https://new.example.com/", "event_types": ["order.created"], "enabled": false }))
        .await
        .expect(200);
    assert_eq!(updated.body["url"], "https://new.example.com/");
    assert_eq!(updated.body["event_types"], json!(["order.created"]));
    assert_eq!(updated.body["enabled"], false);
    assert!(updated.body["disabled_reason"].is_string());
    let enabled = app
        .patch(&key, &path, json!({ "enabled": true }))
        .await
        .expect(200);
    assert!(enabled.body["disabled_reason"].is_null());
    assert_eq!(
        enabled.body["url"], "https://new.example.com/",
        "unchanged fields are kept"
    );
    app.patch(&key, &path, json!({ "url": "http://127.0.0.1/" }))
        .await
        .expect(400);
    app.patch(&key, &path, json!({ "event_types": ["nope"] }))
        .await
        .expect(422);
    app.patch(&key, &path, json!({ "secret": "x" }))
        .await
        .expect(400);

    let page = app.get(&key, "/webhooks?limit=1").await.expect(200);
    assert_eq!(page.body["items"][0]["id"], first.as_str());
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let rest = app
        .get(&key, &format!("/webhooks?limit=1&cursor={cursor}"))
        .await
        .expect(200);
    assert_eq!(rest.body["items"][0]["id"], second.as_str());

    app.delete(&key, &path).await.expect(204);
    app.get(&key, &path).await.expect(404);
    app.delete(&key, &path).await.expect(404);
    app.patch(&key, &path, json!({ "enabled": true }))
        .await
        .expect(404);
    let all = app.get(&key, "/webhooks").await.expect(200);
    assert_eq!(all.body["items"].as_array().unwrap().len(), 1);
    let audited = app
        .count("SELECT count(*) FROM audit_log WHERE action LIKE 'webhook.%'")
        .await;
    assert_eq!(
        audited,
        2 + 2 + 1,
        "two creations, two updates, one deletion"
    );
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn malformed_ids_answer_not_found(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    for id in [
        "nope",
        "wh_123",
        "evt_0193a1b2c3d47e8f9a0b1c2d3e4f5a6b",
        "wh_0193a1b2c3d47e8f9a0b1c2d3e4f5a6b",
    ] {
        let reply = app.get(&key, &format!("/webhooks/{id}")).await;
        assert_eq!(reply.expect(404).error(), "not_found", "{id}");
    }
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn the_webhook_quota_is_enforced(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    app.admin(
        Method::PUT,
        "/admin/tenants/acme/quotas",
        Some(json!({ "max_webhooks": 1 })),
    )
    .await
    .expect(200);
    app.webhook(&key, &[]).await;
    let reply = app
        .post(
            &key,
            "/webhooks",
            json!({ "url": "https://b.example.com/" }),
        )
        .await;
    assert_eq!(reply.expect(422).error(), "webhook_limit_reached");
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn descriptions_are_bounded(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    let long = "d".repeat(1025);
    let reply = app
        .post(
            &key,
            "/webhooks",
            json!({ "url": "https://a.example.com/", "description": long }),
        )
        .await;
    assert_eq!(reply.expect(400).error(), "invalid_description");
}
