//! A tenant's lifecycle through the admin API: its settings, suspending, disabling (data
//! kept, keys refused, consumer removed) and enabling again.

use std::time::Duration;

use herald_test_support::eventually;
use poem::http::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, spawn_app};

async fn patch(app: &TestApp, tenant: &str, body: Value) -> crate::helpers::Reply {
    let path = format!("/admin/tenants/{tenant}");
    app.admin(Method::PATCH, &path, Some(body)).await
}

async fn disable(app: &TestApp, tenant: &str) -> crate::helpers::Reply {
    let path = format!("/admin/tenants/{tenant}");
    app.admin(Method::DELETE, &path, None).await
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_new_tenant_takes_a_display_name_and_a_label_for_its_key(pool: PgPool) {
    let app = spawn_app(pool).await;
    let body =
        json!({ "name": "acme", "display_name": "Acme Corp.", "api_key_label": "k8s:ns/acme" });
    let created = app
        .admin(Method::POST, "/admin/tenants", Some(body))
        .await
        .expect(201);
    assert_eq!(created.body["display_name"], "Acme Corp.");
    assert_eq!(created.body["status"], "active");
    assert!(created.body["retry_schedule"].is_null());
    assert_eq!(created.body["created_at"], created.body["updated_at"]);
    let key = created.body["api_key"].as_str().unwrap();
    app.get(key, "/webhooks").await.expect(200);
    let label: Option<String> = sqlx::query_scalar("SELECT label FROM api_keys")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(label.as_deref(), Some("k8s:ns/acme"));

    let plain = app.tenant("plain").await;
    let shown = app
        .admin(Method::GET, "/admin/tenants/plain", None)
        .await
        .expect(200);
    assert!(shown.body["display_name"].is_null(), "{:#}", shown.body);
    app.get(&plain, "/webhooks").await.expect(200);

    for (body, code) in [
        (
            json!({ "name": "b1", "display_name": "x".repeat(201) }),
            "invalid_display_name",
        ),
        (
            json!({ "name": "b2", "api_key_label": "" }),
            "invalid_label",
        ),
        (
            json!({ "name": "b3", "api_key_label": "x".repeat(201) }),
            "invalid_label",
        ),
        (
            json!({ "name": "b4", "status": "active" }),
            "invalid_request",
        ),
    ] {
        let reply = app
            .admin(Method::POST, "/admin/tenants", Some(body.clone()))
            .await;
        assert_eq!(reply.expect(400).error(), code, "{body}");
    }
    assert_eq!(app.count("SELECT count(*) FROM tenants").await, 2);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn patch_changes_only_the_fields_given_and_is_audited(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    let created = app
        .admin(Method::GET, "/admin/tenants/acme", None)
        .await
        .expect(200);

    let named = patch(&app, "acme", json!({ "display_name": "Acme" }))
        .await
        .expect(200);
    assert_eq!(named.body["display_name"], "Acme");
    assert_eq!(named.body["status"], "active");
    assert_ne!(named.body["updated_at"], created.body["updated_at"]);

    let schedule = json!({ "retry_schedule": ["100ms", "1000ms", "90s", "120s", "3600s"] });
    let by_id = patch(&app, &created.id(), schedule).await.expect(200);
    assert_eq!(
        by_id.body["retry_schedule"],
        json!(["100ms", "1s", "90s", "2m", "1h"]),
        "each delay in its largest exact unit"
    );
    assert_eq!(by_id.body["display_name"], "Acme");
    let stored: Option<Vec<i64>> = sqlx::query_scalar("SELECT retry_schedule_ms FROM tenants")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, Some(vec![100, 1000, 90_000, 120_000, 3_600_000]));

    let suspended = patch(&app, "acme", json!({ "status": "suspended" }))
        .await
        .expect(200);
    assert_eq!(suspended.body["status"], "suspended");
    assert_eq!(suspended.body["retry_schedule"][1], "1s");

    let cleared = patch(
        &app,
        "acme",
        json!({ "display_name": null, "retry_schedule": null }),
    )
    .await
    .expect(200);
    assert!(cleared.body["display_name"].is_null());
    assert!(cleared.body["retry_schedule"].is_null());
    assert_eq!(cleared.body["status"], "suspended");

    let unchanged = patch(&app, "acme", json!({})).await.expect(200);
    assert_eq!(unchanged.body["updated_at"], cleared.body["updated_at"]);
    let audited = app
        .count("SELECT count(*) FROM audit_log WHERE action = 'tenant.updated'")
        .await;
    assert_eq!(audited, 4, "one entry per change, none for an empty patch");
    let details: Value = sqlx::query_scalar(
        "SELECT details FROM audit_log WHERE action = 'tenant.updated' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(details["before"]["display_name"], "Acme");
    assert!(details["after"]["display_name"].is_null());
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn patch_refuses_bad_values_and_changes_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    let twenty_one: Vec<&str> = vec!["1s"; 21];
    for (body, code) in [
        (json!({ "status": "paused" }), "invalid_request"),
        (json!({ "status": null }), "invalid_request"),
        (json!({ "status": 1 }), "invalid_request"),
        (json!({ "retry_schedule": [] }), "invalid_retry_schedule"),
        (
            json!({ "retry_schedule": twenty_one }),
            "invalid_retry_schedule",
        ),
        (
            json!({ "retry_schedule": ["1s", "soon"] }),
            "invalid_retry_schedule",
        ),
        (
            json!({ "retry_schedule": ["1.5s"] }),
            "invalid_retry_schedule",
        ),
        (
            json!({ "retry_schedule": ["-1s"] }),
            "invalid_retry_schedule",
        ),
        (
            json!({ "retry_schedule": ["169h"] }),
            "invalid_retry_schedule",
        ),
        (json!({ "retry_schedule": "1s,2s" }), "invalid_request"),
        (
            json!({ "display_name": "x".repeat(201) }),
            "invalid_display_name",
        ),
        (json!({ "display_name": 5 }), "invalid_request"),
        (json!({ "name": "renamed" }), "invalid_request"),
    ] {
        let reply = patch(&app, "acme", body.clone()).await;
        assert_eq!(reply.expect(400).error(), code, "{body}");
    }
    let reply = patch(&app, "acme", json!({ "retry_schedule": ["1s", "soon"] })).await;
    assert!(
        reply.message().starts_with("retry_schedule[1]: "),
        "{}",
        reply.message()
    );
    let reply = patch(&app, "acme", json!({ "status": "paused" })).await;
    assert!(reply.message().contains("status"), "{}", reply.message());
    // At the bounds: 20 delays, 200 characters, a zero delay.
    let twenty: Vec<&str> = vec!["0ms"; 20];
    let body = json!({ "retry_schedule": twenty, "display_name": "é".repeat(200) });
    patch(&app, "acme", body).await.expect(200);
    patch(&app, "nobody", json!({ "status": "active" }))
        .await
        .expect(404);
    let audited = app
        .count("SELECT count(*) FROM audit_log WHERE action = 'tenant.updated'")
        .await;
    assert_eq!(audited, 1, "refused patches changed nothing");
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_disabled_tenant_keeps_its_data_and_its_keys_answer_403(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    let other = app.tenant("other").await;
    app.event_type(&key, "order.created").await;
    app.webhook(&key, &[]).await;
    app.emit(&key, "order.created", json!({})).await.expect(201);

    disable(&app, "acme").await.expect(204);
    disable(&app, "acme").await.expect(204);
    disable(&app, "nobody").await.expect(404);
    for (method, path) in [
        (Method::GET, "/webhooks"),
        (Method::GET, "/event-types"),
        (Method::GET, "/dlq"),
        (Method::GET, "/quotas/acme"),
    ] {
        let reply = app.call(method, path, Some(&key), None).await;
        assert_eq!(reply.expect(403).error(), "tenant_disabled", "{path}");
    }
    let refused = app.emit(&key, "order.created", json!({})).await.expect(403);
    assert_eq!(refused.error(), "tenant_disabled");
    assert!(refused.message().contains("disabled"));
    app.get(&other, "/webhooks").await.expect(200);

    let shown = app
        .admin(Method::GET, "/admin/tenants/acme", None)
        .await
        .expect(200);
    assert_eq!(shown.body["status"], "disabled");
    let quotas = app
        .admin(Method::GET, "/quotas/acme", None)
        .await
        .expect(200);
    assert_eq!(quotas.body["usage"]["webhooks"], 1);
    assert_eq!(app.count("SELECT count(*) FROM events").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM deliveries").await, 1);
    let audited = app
        .count("SELECT count(*) FROM audit_log WHERE action = 'tenant.disabled'")
        .await;
    assert_eq!(audited, 1, "disabling twice is one change");

    patch(&app, "acme", json!({ "status": "active" }))
        .await
        .expect(200);
    app.get(&key, "/webhooks").await.expect(200);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_suspended_tenant_uses_the_api_as_before(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    app.event_type(&key, "order.created").await;
    app.webhook(&key, &[]).await;
    patch(&app, "acme", json!({ "status": "suspended" }))
        .await
        .expect(200);
    let event = app.emit(&key, "order.created", json!({})).await.expect(201);
    assert_eq!(event.body["deliveries"].as_array().unwrap().len(), 1);
    app.get(&key, &format!("/events/{}", event.id()))
        .await
        .expect(200);
    app.get(&key, "/quotas/acme").await.expect(200);
    assert!(
        app.consumer_cap("acme").await.is_some(),
        "a suspended tenant keeps its consumer"
    );
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn the_consumer_goes_with_disabling_and_comes_back_with_enabling(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    app.tenant("other").await;
    assert_eq!(app.consumer_cap("acme").await, Some(20));

    disable(&app, "acme").await.expect(204);
    assert_eq!(app.consumer_cap("acme").await, None);
    // The quotas are stored, but no consumer is made for a disabled tenant.
    let quotas = json!({ "max_concurrent_deliveries": 7 });
    app.admin(Method::PUT, "/admin/tenants/acme/quotas", Some(quotas))
        .await
        .expect(200);
    assert_eq!(app.consumer_cap("acme").await, None);
    // Nor by the relay's topology pass, which does make the other tenants' consumers.
    app.relay_pass().await;
    assert_eq!(app.consumer_cap("acme").await, None);
    assert_eq!(app.consumer_cap("other").await, Some(20));

    patch(&app, "acme", json!({ "status": "suspended" }))
        .await
        .expect(200);
    assert_eq!(
        app.consumer_cap("acme").await,
        Some(7),
        "with its concurrency quota"
    );
    disable(&app, "acme").await.expect(204);
    patch(&app, "acme", json!({ "status": "active" }))
        .await
        .expect(200);
    assert_eq!(app.consumer_cap("acme").await, Some(7));
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn disabling_while_nats_is_down_succeeds_and_the_relay_removes_the_consumer(pool: PgPool) {
    let mut app = spawn_app(pool).await;
    let _relay = app.start_relay().await;
    app.tenant("acme").await;
    // Made by the request, or by the relay's pass when the two raced.
    eventually("the tenant's consumer", Duration::from_secs(10), || async {
        app.consumer_cap("acme").await
    })
    .await;
    app.nats.as_mut().unwrap().stop();
    eventually(
        "ingest to notice NATS is down",
        Duration::from_secs(10),
        || async {
            let ready = app.call(Method::GET, "/readyz", None, None).await;
            (ready.status.as_u16() == 503).then_some(())
        },
    )
    .await;

    let started = std::time::Instant::now();
    disable(&app, "acme").await.expect(204);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the request waited for NATS"
    );
    let shown = app.admin(Method::GET, "/admin/tenants/acme", None).await;
    assert_eq!(shown.expect(200).body["status"], "disabled");

    app.nats
        .as_mut()
        .unwrap()
        .resume()
        .expect("nats-server restarts");
    eventually(
        "JetStream to recover its streams",
        Duration::from_secs(10),
        || async { app.deliveries_stream_ready().await.then_some(()) },
    )
    .await;
    // The relay, running all along, sees that the tenants changed and deletes the consumer.
    // Right after a restart JetStream may briefly answer that the stream is missing: the
    // consumer counts as deleted only while its stream is there.
    eventually(
        "the relay to delete the consumer",
        Duration::from_secs(15),
        || async {
            let gone = app.consumer_cap("acme").await.is_none();
            (gone && app.deliveries_stream_ready().await).then_some(())
        },
    )
    .await;
}
