//! A tenant never sees another tenant's objects: they answer 404, as if absent.

use serde_json::json;
use sqlx::PgPool;

use crate::helpers::spawn_app;

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn another_tenants_objects_look_absent(pool: PgPool) {
    let app = spawn_app(pool).await;
    let a = app.tenant("tenant-a").await;
    let b = app.tenant("tenant-b").await;
    app.event_type(&a, "order.created").await;
    let webhook = app.webhook(&a, &[]).await;
    let event = app
        .emit(&a, "order.created", json!({ "n": 1 }))
        .await
        .expect(201);
    let delivery = event.body["deliveries"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let event = event.id();

    for path in [
        format!("/webhooks/{webhook}"),
        format!("/webhooks/{webhook}/secret"),
        format!("/events/{event}"),
        format!("/events/{event}/deliveries"),
        format!("/deliveries/{delivery}"),
        "/event-types/order.created".to_owned(),
    ] {
        assert_eq!(
            app.get(&b, &path).await.expect(404).error(),
            "not_found",
            "{path}"
        );
        app.get(&a, &path).await.expect(200);
    }
    let path = format!("/webhooks/{webhook}");
    app.patch(&b, &path, json!({ "enabled": false }))
        .await
        .expect(404);
    app.delete(&b, &path).await.expect(404);
    assert_eq!(
        app.get(&a, &path).await.expect(200).body["enabled"],
        true,
        "B changed nothing"
    );

    for list in ["/webhooks", "/event-types"] {
        let page = app.get(&b, list).await.expect(200);
        assert_eq!(page.body["items"], json!([]), "{list}");
    }
    // B cannot emit A's types, nor filter on them.
    app.emit(&b, "order.created", json!({})).await.expect(422);
    let reply = app
        .post(
            &b,
            "/webhooks",
            json!({ "url": "https://b.example.com/", "event_types": ["order.created"] }),
        )
        .await;
    reply.expect(422);
}
