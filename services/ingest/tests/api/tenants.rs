use poem::http::Method;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{ADMIN_TOKEN, spawn_app, spawn_app_with};

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn creating_a_tenant_returns_a_working_api_key_once(pool: PgPool) {
    let app = spawn_app(pool).await;
    let reply = app
        .admin(
            Method::POST,
            "/admin/tenants",
            Some(json!({ "name": "acme" })),
        )
        .await
        .expect(201);
    assert!(reply.id().starts_with("tnt_"));
    assert_eq!(reply.body["name"], "acme");
    let key = reply.body["api_key"].as_str().unwrap();
    assert!(key.starts_with("hk_"));
    app.get(key, "/webhooks").await.expect(200);

    let shown = app
        .admin(Method::GET, &format!("/admin/tenants/{}", reply.id()), None)
        .await;
    assert!(
        shown.expect(200).body.get("api_key").is_none(),
        "key shown twice"
    );
    let stored: String = sqlx::query_scalar("SELECT key_hash FROM api_keys")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_ne!(stored, key, "the key is stored only as a hash");
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'tenant.created'")
            .await,
        1
    );
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_taken_name_is_a_conflict(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    let reply = app
        .admin(
            Method::POST,
            "/admin/tenants",
            Some(json!({ "name": "acme" })),
        )
        .await;
    assert_eq!(reply.expect(409).error(), "tenant_exists");
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn names_outside_the_pattern_are_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    for name in [
        "a",
        "-acme",
        "Acme",
        "acme_corp",
        "acme.io",
        &"x".repeat(64),
        "",
    ] {
        let reply = app
            .admin(
                Method::POST,
                "/admin/tenants",
                Some(json!({ "name": name })),
            )
            .await;
        assert_eq!(reply.expect(400).error(), "invalid_name", "{name:?}");
    }
    let reply = app
        .admin(Method::POST, "/admin/tenants", Some(json!({})))
        .await
        .expect(400);
    assert!(
        reply.message().contains("missing field `name`"),
        "{}",
        reply.message()
    );
    let reply = app
        .admin(
            Method::POST,
            "/admin/tenants",
            Some(json!({ "name": "ok-name", "nmae": 1 })),
        )
        .await
        .expect(400);
    assert!(
        reply.message().contains("unknown field `nmae`"),
        "{}",
        reply.message()
    );
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn the_admin_api_needs_the_admin_token(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    let body = Some(json!({ "name": "other" }));
    let none = app
        .call(Method::POST, "/admin/tenants", None, body.clone())
        .await;
    assert_eq!(none.expect(401).error(), "unauthorized");
    app.call(Method::POST, "/admin/tenants", Some("wrong"), body.clone())
        .await
        .expect(401);
    app.call(Method::POST, "/admin/tenants", Some(&key), body)
        .await
        .expect(401);
    app.call(Method::GET, "/webhooks", Some(ADMIN_TOKEN), None)
        .await
        .expect(401);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn without_an_admin_token_the_admin_api_is_off(pool: PgPool) {
    let app = spawn_app_with(pool, &[("HERALD_ADMIN_TOKEN", "")]).await;
    let reply = app
        .admin(
            Method::POST,
            "/admin/tenants",
            Some(json!({ "name": "acme" })),
        )
        .await;
    assert_eq!(reply.expect(403).error(), "admin_api_disabled");
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn tenants_are_found_by_id_or_name_and_listed_in_pages(pool: PgPool) {
    let app = spawn_app(pool).await;
    for name in ["t1", "t2", "t3"] {
        app.tenant(name).await;
    }
    let by_name = app
        .admin(Method::GET, "/admin/tenants/t2", None)
        .await
        .expect(200);
    let by_id = app
        .admin(
            Method::GET,
            &format!("/admin/tenants/{}", by_name.id()),
            None,
        )
        .await;
    assert_eq!(by_id.expect(200).body["name"], "t2");
    app.admin(Method::GET, "/admin/tenants/nobody", None)
        .await
        .expect(404);

    let first = app
        .admin(Method::GET, "/admin/tenants?limit=2", None)
        .await
        .expect(200);
    assert_eq!(first.body["items"].as_array().unwrap().len(), 2);
    let cursor = first.body["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let second = app
        .admin(
            Method::GET,
            &format!("/admin/tenants?limit=2&cursor={cursor}"),
            None,
        )
        .await
        .expect(200);
    assert_eq!(second.body["items"][0]["name"], "t3");
    assert!(second.body["next_cursor"].is_null());
}
