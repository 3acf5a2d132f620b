//! Issuing API keys: shown once, stored hashed, and a label revokes its holder's old key.

use poem::http::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, spawn_app};

async fn issue(app: &TestApp, tenant: &str, body: Value) -> crate::helpers::Reply {
    let path = format!("/admin/tenants/{tenant}/api-keys");
    app.admin(Method::POST, &path, Some(body)).await
}

fn key_of(reply: &crate::helpers::Reply) -> String {
    reply.body["api_key"].as_str().expect("api_key").to_owned()
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_labelled_key_replaces_its_holders_old_one_and_leaves_the_rest(pool: PgPool) {
    let app = spawn_app(pool).await;
    let label = "k8s:payments/acme-api-key";
    let body = json!({ "name": "acme", "api_key_label": label });
    let created = app
        .admin(Method::POST, "/admin/tenants", Some(body))
        .await
        .expect(201);
    let first = key_of(&created);
    let unlabelled = issue(&app, "acme", json!({})).await.expect(201);
    assert!(unlabelled.body["label"].is_null());
    let unlabelled = key_of(&unlabelled);

    let rotated = issue(&app, &created.id(), json!({ "label": label }))
        .await
        .expect(201);
    let second = key_of(&rotated);
    assert_eq!(rotated.body["label"], label);
    assert!(second.starts_with(rotated.body["prefix"].as_str().unwrap()));
    assert!(rotated.body["created_at"].is_string());
    assert_eq!(
        app.get(&first, "/webhooks").await.expect(401).error(),
        "unauthorized"
    );
    app.get(&unlabelled, "/webhooks").await.expect(200);
    app.get(&second, "/webhooks").await.expect(200);

    let third = key_of(
        &issue(&app, "acme", json!({ "label": label }))
            .await
            .expect(201),
    );
    app.get(&second, "/webhooks").await.expect(401);
    app.get(&third, "/webhooks").await.expect(200);
    app.get(&unlabelled, "/webhooks").await.expect(200);
    let other = key_of(
        &issue(&app, "acme", json!({ "label": "ci" }))
            .await
            .expect(201),
    );
    app.get(&other, "/webhooks").await.expect(200);
    app.get(&third, "/webhooks").await.expect(200);

    let live = app
        .count("SELECT count(*) FROM api_keys WHERE revoked_at IS NULL")
        .await;
    assert_eq!(live, 3, "the unlabelled key and one per label");
    let audit: Vec<Value> = sqlx::query_scalar(
        "SELECT details FROM audit_log WHERE action = 'api_key.issued' ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(audit.len(), 4);
    assert_eq!(audit[1]["revoked"].as_array().unwrap().len(), 1);
    let logged = serde_json::to_string(&audit).unwrap();
    for key in [&first, &unlabelled, &second, &third, &other] {
        assert!(
            !logged.contains(key.as_str()),
            "a key reached the audit log"
        );
    }
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn issuing_checks_its_label_and_its_tenant(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    for body in [json!({ "label": "" }), json!({ "label": "x".repeat(201) })] {
        let reply = issue(&app, "acme", body).await;
        assert_eq!(reply.expect(400).error(), "invalid_label");
    }
    for body in [json!({ "label": 7 }), json!({ "lable": "x" })] {
        let reply = issue(&app, "acme", body).await;
        assert_eq!(reply.expect(400).error(), "invalid_request");
    }
    issue(&app, "nobody", json!({})).await.expect(404);
    let path = "/admin/tenants/acme/api-keys";
    app.call(Method::POST, path, Some(&key), Some(json!({})))
        .await
        .expect(401);
    assert_eq!(app.count("SELECT count(*) FROM api_keys").await, 1);
}
