use serde_json::json;
use sqlx::PgPool;

use crate::helpers::spawn_app;

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn event_types_are_registered_listed_and_read(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    let schema = json!({ "type": "object", "required": ["id"] });
    let created = app
        .post(
            &key,
            "/event-types",
            json!({ "name": "order.created", "description": "An order", "schema": schema }),
        )
        .await
        .expect(201);
    assert!(created.id().starts_with("et_"));
    assert_eq!(created.body["schema"], schema);
    for name in ["user.updated", "invoice.paid"] {
        app.event_type(&key, name).await;
    }

    let first = app.get(&key, "/event-types?limit=2").await.expect(200);
    let names: Vec<&str> = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["order.created", "user.updated"]);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let rest = app
        .get(&key, &format!("/event-types?cursor={cursor}"))
        .await
        .expect(200);
    assert_eq!(rest.body["items"][0]["name"], "invoice.paid");
    assert!(rest.body["next_cursor"].is_null());

    let one = app
        .get(&key, "/event-types/order.created")
        .await
        .expect(200);
    assert_eq!(one.body["description"], "An order");
    app.get(&key, "/event-types/order.deleted")
        .await
        .expect(404);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn bad_event_types_are_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    app.event_type(&key, "order.created").await;
    let dup = app
        .post(&key, "/event-types", json!({ "name": "order.created" }))
        .await;
    assert_eq!(dup.expect(409).error(), "event_type_exists");
    for name in ["", "has space", "slash/type", &"x".repeat(257)] {
        let reply = app
            .post(&key, "/event-types", json!({ "name": name }))
            .await;
        assert_eq!(reply.expect(400).error(), "invalid_name", "{name:?}");
    }
    for schema in [
        json!({ "type": 5 }),
        json!("string"),
        json!({ "$ref": "https://example.com/s.json" }),
    ] {
        let reply = app
            .post(
                &key,
                "/event-types",
                json!({ "name": "x.y", "schema": schema }),
            )
            .await;
        assert_eq!(reply.expect(400).error(), "invalid_schema", "{schema}");
    }
    let typo = app
        .post(&key, "/event-types", json!({ "name": "a.b", "shema": {} }))
        .await
        .expect(400);
    assert!(typo.message().contains("unknown field `shema`"));
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn list_parameters_are_checked(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    for query in [
        "limit=0",
        "limit=251",
        "limit=abc",
        "limit=-1",
        "cursor=garbage",
    ] {
        let reply = app.get(&key, &format!("/event-types?{query}")).await;
        assert_eq!(reply.status.as_u16(), 400, "{query}: {:#}", reply.body);
        assert!(!reply.error().is_empty(), "{query}: error body is JSON");
    }
    let reply = app.get(&key, "/event-types?limit=abc").await;
    assert!(reply.message().contains("limit"), "{}", reply.message());
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn tenant_routes_need_a_valid_key(pool: PgPool) {
    let app = spawn_app(pool).await;
    for reply in [
        app.call(poem::http::Method::GET, "/event-types", None, None)
            .await,
        app.get("hk_not-a-real-key", "/event-types").await,
    ] {
        assert_eq!(reply.expect(401).error(), "unauthorized");
    }
}
