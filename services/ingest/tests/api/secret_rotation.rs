//! `POST /webhooks/{id}/secret/rotate`: the new secret leads, the old one keeps signing for
//! the grace period, bad requests are refused, and the rotation is audited without secrets.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::spawn_app;

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_rotation_keeps_the_old_secret_for_the_grace_period(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    let id = app.webhook(&key, &[]).await;
    let path = format!("/webhooks/{id}/secret");
    let old = app.get(&key, &path).await.expect(200).body["secret"].clone();

    let before = Utc::now();
    let rotated = app
        .post(&key, &format!("{path}/rotate"), json!({}))
        .await
        .expect(200);
    let new = rotated.body["secret"].as_str().unwrap();
    assert!(new.starts_with("whsec_") && json!(new) != old);
    assert_eq!(app.get(&key, &path).await.expect(200).body["secret"], new);
    let ends: DateTime<Utc> = rotated.body["previous_expire_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let grace = ends - before;
    assert!(
        (23 * 3600..=24 * 3600 + 5).contains(&grace.num_seconds()),
        "{grace}"
    );

    let stored = app
        .count(&format!(
            "SELECT jsonb_array_length(secrets)::bigint FROM webhooks WHERE secrets->1->>'secret' = '{}'",
            old.as_str().unwrap()
        ))
        .await;
    assert_eq!(stored, 2, "the old secret is kept second");
    let audited = app
        .count("SELECT count(*) FROM audit_log WHERE action = 'webhook.secret_rotated' AND details::text NOT LIKE '%whsec_%'")
        .await;
    assert_eq!(audited, 1, "audited, without any secret");
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_given_secret_and_no_grace_replace_the_old_at_once(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    let id = app.webhook(&key, &[]).await;
    let mine = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwAAAAAAAAAAA=";
    let body = json!({ "secret": mine, "grace_period": "0s" });
    let rotated = app
        .post(&key, &format!("/webhooks/{id}/secret/rotate"), body)
        .await
        .expect(200);
    assert_eq!(rotated.body["secret"], mine);
    assert_eq!(rotated.body["previous_expire_at"], serde_json::Value::Null);
    let kept = app
        .count("SELECT sum(jsonb_array_length(secrets)) FROM webhooks")
        .await;
    assert_eq!(kept, 1);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn bad_rotations_are_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    let other = app.tenant("globex").await;
    let id = app.webhook(&key, &[]).await;
    let path = format!("/webhooks/{id}/secret/rotate");
    let current = app
        .get(&key, &format!("/webhooks/{id}/secret"))
        .await
        .expect(200);
    let cases = [
        (json!({ "grace_period": "169h" }), "invalid_grace_period"),
        (json!({ "grace_period": "soon" }), "invalid_grace_period"),
        (json!({ "secret": "not-a-secret" }), "invalid_secret"),
        (
            json!({ "secret": current.body["secret"] }),
            "invalid_secret",
        ),
        (json!({ "rotate": true }), "invalid_request"),
    ];
    for (body, code) in cases {
        let reply = app.post(&key, &path, body.clone()).await.expect(400);
        assert_eq!(reply.error(), code, "{body}");
    }
    app.post(&other, &path, json!({})).await.expect(404);
    app.post(&key, "/webhooks/wh_nope/secret/rotate", json!({}))
        .await
        .expect(404);
    let rotations = app
        .count("SELECT count(*) FROM audit_log WHERE action = 'webhook.secret_rotated'")
        .await;
    assert_eq!(rotations, 0);
}
