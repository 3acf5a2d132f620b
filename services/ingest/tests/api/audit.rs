//! `GET /audit`: a tenant reads only its own entries, the admin reads all or one tenant's,
//! newest first, filtered by action, a page at a time; no entry holds a secret.

use poem::http::Method;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::spawn_app;

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn each_reader_sees_what_it_may(pool: PgPool) {
    let app = spawn_app(pool).await;
    let acme = app.tenant("acme").await;
    let globex = app.tenant("globex").await;
    let webhook = app.webhook(&acme, &[]).await;
    app.post(
        &acme,
        &format!("/webhooks/{webhook}/secret/rotate"),
        json!({}),
    )
    .await
    .expect(200);
    app.webhook(&globex, &[]).await;

    let own = app.get(&acme, "/audit").await.expect(200);
    let actions: Vec<&str> = own.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "webhook.secret_rotated",
            "webhook.created",
            "tenant.created"
        ],
        "newest first, its own only"
    );
    let entry = &own.body["items"][0];
    assert_eq!(entry["target"], webhook.as_str());
    assert!(
        entry["actor"].as_str().unwrap().starts_with("key_"),
        "{entry}"
    );
    assert!(
        !own.body.to_string().contains("whsec_"),
        "no secret in the log"
    );

    let all = app
        .admin(Method::GET, "/audit?limit=250", None)
        .await
        .expect(200);
    let every = all.body["items"].as_array().unwrap();
    assert!(every.iter().any(|e| e["action"] == "tenant.created"));
    assert!(
        every
            .iter()
            .any(|e| e["tenant_id"] != own.body["items"][0]["tenant_id"])
    );
    let one = app
        .admin(Method::GET, "/audit?tenant=globex&action=webhook.", None)
        .await
        .expect(200);
    assert_eq!(one.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(one.body["items"][0]["action"], "webhook.created");

    let refused = app.get(&acme, "/audit?tenant=globex").await.expect(400);
    assert_eq!(refused.error(), "invalid_filter");
    app.admin(Method::GET, "/audit?tenant=nobody", None)
        .await
        .expect(404);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn pages_follow_the_cursor_without_gaps_or_repeats(pool: PgPool) {
    let app = spawn_app(pool).await;
    let acme = app.tenant("acme").await;
    for _ in 0..5 {
        app.webhook(&acme, &[]).await;
    }
    let mut seen = Vec::new();
    let mut path = "/audit?limit=2".to_owned();
    loop {
        let page = app.get(&acme, &path).await.expect(200);
        for item in page.body["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/audit?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    // Five webhooks created, and the tenant itself.
    assert_eq!((seen.len(), unique.len()), (6, 6));
}
