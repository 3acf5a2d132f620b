use std::time::Duration;

use herald_test_support::eventually;
use poem::http::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::spawn_app;

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn ready_while_postgres_and_nats_answer(pool: PgPool) {
    let mut app = spawn_app(pool).await;
    app.call(Method::GET, "/healthz", None, None)
        .await
        .expect(200);
    let ready = wait_for_readyz(&app, 200).await;
    assert_eq!(
        ready.body["checks"],
        json!({ "postgres": "ok", "nats": "ok" })
    );

    drop(app.nats.take());
    let down = wait_for_readyz(&app, 503).await;
    assert_ne!(down.body["checks"]["nats"], "ok");
    assert_eq!(down.body["checks"]["postgres"], "ok");
    app.call(Method::GET, "/healthz", None, None)
        .await
        .expect(200);
}

/// The NATS client connects (and notices a lost server) in the background.
async fn wait_for_readyz(app: &crate::helpers::TestApp, status: u16) -> crate::helpers::Reply {
    eventually(
        &format!("readyz to answer {status}"),
        Duration::from_secs(10),
        || async move {
            let reply = app.call(Method::GET, "/readyz", None, None).await;
            (reply.status.as_u16() == status).then_some(reply)
        },
    )
    .await
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn not_ready_while_postgres_is_unreachable(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.pool.close().await;
    let reply = app
        .call(Method::GET, "/readyz", None, None)
        .await
        .expect(503);
    assert_ne!(reply.body["checks"]["postgres"], "ok");
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn metrics_count_requests_and_events(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    app.event_type(&key, "order.created").await;
    app.emit(&key, "order.created", json!({})).await.expect(201);
    let response = app.client.get("/metrics").send().await;
    response.assert_status_is_ok();
    let text = response.0.into_body().into_string().await.unwrap();
    assert!(
        text.contains(
            r#"herald_events_accepted_total{tenant="acme",event_type="order.created"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"herald_http_requests_total{method="POST",operation="createEvent",status="201"} 1"#
        ),
        "{text}"
    );
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn errors_outside_handlers_are_json(pool: PgPool) {
    let app = spawn_app(pool).await;
    let unknown = app
        .call(Method::GET, "/no/such/path", None, None)
        .await
        .expect(404);
    assert_eq!(unknown.error(), "not_found");
    let method = app
        .call(Method::PUT, "/events", None, None)
        .await
        .expect(405);
    assert_eq!(method.error(), "method_not_allowed");
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn the_openapi_document_describes_every_operation(pool: PgPool) {
    let app = spawn_app(pool).await;
    let spec = app
        .call(Method::GET, "/openapi.json", None, None)
        .await
        .expect(200)
        .body;
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let paths = spec["paths"].as_object().unwrap();
    for (path, method) in [
        ("/admin/tenants", "post"),
        ("/admin/tenants/{tenant}", "patch"),
        ("/admin/tenants/{tenant}", "delete"),
        ("/admin/tenants/{tenant}/api-keys", "post"),
        ("/admin/tenants/{tenant}/quotas", "put"),
        ("/event-types", "post"),
        ("/event-types", "get"),
        ("/webhooks", "post"),
        ("/webhooks", "get"),
        ("/webhooks/{id}", "get"),
        ("/webhooks/{id}", "patch"),
        ("/webhooks/{id}", "delete"),
        ("/events", "post"),
        ("/events/{id}", "get"),
        ("/events/{id}/deliveries", "get"),
        ("/deliveries/{id}", "get"),
        ("/quotas/{tenant}", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    let schemas = &spec["components"]["schemas"];
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().unwrap() {
            let name = format!("{method} {path}");
            assert!(operation["summary"].is_string(), "{name}: no summary");
            let responses = operation["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{name}: no success response"
            );
            assert!(responses.contains_key("401"), "{name}: no 401");
            assert!(
                has_example(
                    schemas,
                    &responses
                        .values()
                        .find(|r| r.get("content").is_some())
                        .unwrap()["content"]
                ),
                "{name}: no response example"
            );
            if let Some(body) = operation.get("requestBody") {
                assert!(
                    has_example(schemas, &body["content"]),
                    "{name}: no request example"
                );
                // A body sent without `Content-Type: application/json` is answered 415.
                assert!(responses.contains_key("415"), "{name}: no 415");
            }
        }
    }
    let docs = app.client.get("/docs").send().await;
    docs.assert_status_is_ok();
    assert!(
        docs.0
            .into_body()
            .into_string()
            .await
            .unwrap()
            .contains("swagger")
    );
}

/// Fields answered as `null` (absent values, the last page's cursor) are declared nullable,
/// so that clients generated from the spec accept them.
#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn fields_answered_as_null_are_declared_nullable(pool: PgPool) {
    let app = spawn_app(pool).await;
    let spec = app
        .call(Method::GET, "/openapi.json", None, None)
        .await
        .expect(200)
        .body;
    let schemas = &spec["components"]["schemas"];
    for (schema, field) in [
        ("WebhookOut", "description"),
        ("WebhookOut", "disabled_reason"),
        ("WebhookPage", "next_cursor"),
        ("EventTypeOut", "schema"),
        ("EventTypePage", "next_cursor"),
        ("DeliveryOut", "next_attempt_at"),
        ("DeliveryOut", "last_error"),
        ("AttemptOut", "response_body"),
        ("DeadLetterPage", "next_cursor"),
        ("AuditPage", "next_cursor"),
        ("TenantOut", "retry_schedule"),
        ("TenantPage", "next_cursor"),
    ] {
        assert_eq!(
            schemas[schema]["properties"][field]["nullable"],
            Value::Bool(true),
            "{schema}.{field} is not nullable"
        );
    }
}

/// The name rules the handlers enforce are in the spec, so generated clients and fuzzers
/// send names the API accepts.
#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn name_rules_are_declared_as_patterns(pool: PgPool) {
    let app = spawn_app(pool).await;
    let spec = app
        .call(Method::GET, "/openapi.json", None, None)
        .await
        .expect(200)
        .body;
    let schemas = &spec["components"]["schemas"];
    assert_eq!(
        schemas["TenantIn"]["properties"]["name"]["pattern"],
        "^[a-z0-9][a-z0-9-]{1,62}$"
    );
    assert_eq!(
        schemas["EventTypeIn"]["properties"]["name"]["pattern"],
        "^[A-Za-z0-9._-]{1,256}$"
    );
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_body_without_a_json_content_type_is_415_in_the_error_shape(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    let reply = app
        .call(Method::POST, "/webhooks", Some(&key), None)
        .await
        .expect(415);
    assert_eq!(reply.error(), "unsupported_media_type");
}

/// Whether the first media type's schema, or the schema it references, carries an example.
fn has_example(schemas: &Value, content: &Value) -> bool {
    let schema = &content.as_object().and_then(|c| c.values().next()).unwrap()["schema"];
    let resolved = match schema["$ref"].as_str() {
        Some(reference) => &schemas[reference.trim_start_matches("#/components/schemas/")],
        None => schema,
    };
    resolved.get("example").is_some()
}
