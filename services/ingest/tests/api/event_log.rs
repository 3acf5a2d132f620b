//! What the portal reads and does besides the long-standing API: the key's tenant, the event
//! log, and test events sent to one webhook.

use poem::http::Method;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::spawn_app;

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_key_names_its_own_tenant(pool: PgPool) {
    let app = spawn_app(pool).await;
    let acme = app.tenant("acme").await;
    let globex = app.tenant("globex").await;

    let reply = app.get(&acme, "/tenant").await.expect(200);
    assert_eq!(reply.body["name"], "acme");
    assert!(reply.body["id"].as_str().unwrap().starts_with("tnt_"));
    assert!(
        reply.body.get("api_key").is_none(),
        "the key is never shown again"
    );
    let quotas = format!("/quotas/{}", reply.id());
    app.get(&acme, &quotas).await.expect(200);

    assert_eq!(
        app.get(&globex, "/tenant").await.expect(200).body["name"],
        "globex"
    );
    assert_eq!(
        app.call(Method::GET, "/tenant", None, None).await.status,
        401
    );
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn the_event_log_lists_newest_first_by_type_and_page(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    let other = app.tenant("globex").await;
    app.event_type(&key, "order.created").await;
    app.event_type(&key, "user.updated").await;
    let mut orders = Vec::new();
    for n in 0..3 {
        let reply = app.emit(&key, "order.created", json!({ "n": n })).await;
        orders.push(reply.expect(201).id());
    }
    let user = app
        .emit(&key, "user.updated", json!({}))
        .await
        .expect(201)
        .id();

    let all = app.get(&key, "/events").await.expect(200);
    let ids: Vec<&str> = all.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [user.as_str(), &orders[2], &orders[1], &orders[0]]);
    assert_eq!(all.body["items"][1]["type"], "order.created");
    assert_eq!(all.body["items"][1]["payload"], json!({ "n": 2 }));
    assert!(all.body["next_cursor"].is_null());

    let first = app
        .get(&key, "/events?type=order.created&limit=2")
        .await
        .expect(200);
    let page: Vec<&str> = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(page, [&orders[2], &orders[1]]);
    let cursor = first.body["next_cursor"].as_str().expect("a second page");
    let second = app
        .get(
            &key,
            &format!("/events?type=order.created&limit=2&cursor={cursor}"),
        )
        .await
        .expect(200);
    assert_eq!(second.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(second.body["items"][0]["id"], orders[0].as_str());
    assert!(second.body["next_cursor"].is_null());

    let none = app.get(&other, "/events").await.expect(200);
    assert_eq!(
        none.body["items"],
        json!([]),
        "another tenant sees none of them"
    );
    let bad = app.get(&key, "/events?limit=0").await.expect(400);
    assert_eq!(bad.error(), "invalid_limit");
    let bad = app.get(&key, "/events?cursor=nonsense").await.expect(400);
    assert_eq!(bad.error(), "invalid_cursor");
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_test_event_goes_to_that_webhook_alone(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    app.event_type(&key, "order.created").await;
    let target = app.webhook(&key, &["order.created"]).await;
    let _bystander = app.webhook(&key, &[]).await;

    let sent = app
        .post(&key, &format!("/webhooks/{target}/test"), json!({}))
        .await
        .expect(202);
    assert_eq!(sent.body["event_type"], "webhook.test");
    let delivery = sent.body["delivery_id"].as_str().unwrap();
    let event = sent.body["event_id"].as_str().unwrap();
    let deliveries = app
        .get(&key, &format!("/events/{event}/deliveries"))
        .await
        .expect(200);
    let items = deliveries.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "only the tested webhook: {items:?}");
    assert_eq!(items[0]["webhook_id"], target.as_str());
    assert_eq!(items[0]["id"], delivery);
    let stored = app.get(&key, &format!("/events/{event}")).await.expect(200);
    assert!(stored.body["payload"]["message"].is_string());
    let found = app.get(&key, &format!("/deliveries/{delivery}")).await;
    assert_eq!(found.expect(200).body["status"], "pending");
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_test_event_of_a_registered_type_keeps_to_its_schema(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    let schema = json!({
        "type": "object",
        "required": ["order_id"],
        "properties": { "order_id": { "type": "string" } },
        "examples": [{ "order_id": "ord_1001" }]
    });
    app.post(
        &key,
        "/event-types",
        json!({ "name": "order.created", "schema": schema }),
    )
    .await
    .expect(201);
    let webhook = app.webhook(&key, &[]).await;
    let path = format!("/webhooks/{webhook}/test");

    let sent = app
        .post(&key, &path, json!({ "event_type": "order.created" }))
        .await
        .expect(202);
    let event = sent.body["event_id"].as_str().unwrap();
    let stored = app.get(&key, &format!("/events/{event}")).await.expect(200);
    assert_eq!(stored.body["payload"], json!({ "order_id": "ord_1001" }));
    assert_eq!(stored.body["type"], "order.created");

    let wrong = json!({ "event_type": "order.created", "payload": { "order_id": 7 } });
    let refused = app.post(&key, &path, wrong).await.expect(422);
    assert_eq!(refused.error(), "schema_validation_failed");
    let unknown = json!({ "event_type": "nope.never" });
    let refused = app.post(&key, &path, unknown).await.expect(422);
    assert_eq!(refused.error(), "unknown_event_type");
    let not_object = json!({ "payload": [1, 2] });
    assert_eq!(
        app.post(&key, &path, not_object).await.expect(400).error(),
        "invalid_payload"
    );
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_test_event_needs_an_enabled_webhook_of_ones_own(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    let other = app.tenant("globex").await;
    let webhook = app.webhook(&key, &[]).await;
    let path = format!("/webhooks/{webhook}/test");

    let hidden = app.post(&other, &path, json!({})).await.expect(404);
    assert_eq!(hidden.error(), "not_found");
    app.post(&key, "/webhooks/wh_nonsense/test", json!({}))
        .await
        .expect(404);
    app.patch(
        &key,
        &format!("/webhooks/{webhook}"),
        json!({ "enabled": false }),
    )
    .await
    .expect(200);
    let refused = app.post(&key, &path, json!({})).await.expect(409);
    assert_eq!(refused.error(), "webhook_disabled");
    assert_eq!(app.count("SELECT count(*) FROM events").await, 0);
}
