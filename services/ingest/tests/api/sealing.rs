//! Webhook secrets at rest: sealed with `HERALD_ENCRYPTION_KEY` (never in the row as text),
//! shown to their tenant opened, and moved to a new key by the resealing pass while the old
//! key is still listed.

use herald_domain::sealing::Keyring;
use herald_ingest::maintenance::reseal_secrets;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::spawn_app_with;

async fn stored_secrets(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT s->>'secret' FROM webhooks, jsonb_array_elements(secrets) s")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn secrets_are_sealed_at_rest_and_shown_opened(pool: PgPool) {
    let key = Keyring::generate_key();
    let app = spawn_app_with(pool.clone(), &[("HERALD_ENCRYPTION_KEY", &key)]).await;
    let tenant = app.tenant("acme").await;
    let created = app
        .post(
            &tenant,
            "/webhooks",
            json!({ "url": "https://hooks.example.com/in" }),
        )
        .await
        .expect(201);
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    let id = created.id();

    let stored = stored_secrets(&pool).await;
    assert_eq!(stored.len(), 1);
    assert!(stored[0].starts_with("sealed:v1:") && !stored[0].contains(&secret[6..]));
    let shown = app
        .get(&tenant, &format!("/webhooks/{id}/secret"))
        .await
        .expect(200);
    assert_eq!(shown.body["secret"], secret.as_str());

    let rotate = format!("/webhooks/{id}/secret/rotate");
    let rotated = app.post(&tenant, &rotate, json!({})).await.expect(200);
    let again = json!({ "secret": rotated.body["secret"] });
    let reply = app.post(&tenant, &rotate, again).await.expect(400);
    assert_eq!(
        reply.error(),
        "invalid_secret",
        "a sealed current secret is still recognised"
    );
    assert!(
        stored_secrets(&pool)
            .await
            .iter()
            .all(|s| s.starts_with("sealed:v1:"))
    );
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn resealing_moves_plain_and_old_secrets_to_the_newest_key(pool: PgPool) {
    let plain = spawn_app_with(pool.clone(), &[]).await;
    let tenant = plain.tenant("acme").await;
    let created = plain
        .post(
            &tenant,
            "/webhooks",
            json!({ "url": "https://hooks.example.com/in" }),
        )
        .await
        .expect(201);
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    assert_eq!(
        stored_secrets(&pool).await,
        std::slice::from_ref(&secret),
        "no key: stored as given"
    );

    let (old, new) = (Keyring::generate_key(), Keyring::generate_key());
    let first = Keyring::parse(&old).unwrap();
    assert_eq!(reseal_secrets(&pool, &first).await.unwrap(), 1);
    assert_eq!(
        reseal_secrets(&pool, &first).await.unwrap(),
        0,
        "nothing left"
    );
    let sealed_old = stored_secrets(&pool).await;
    assert!(sealed_old[0].starts_with(&format!("sealed:v1:{}:", first.active_id())));

    let rotated = Keyring::parse(&format!("{new}\n{old}")).unwrap();
    assert_eq!(reseal_secrets(&pool, &rotated).await.unwrap(), 1);
    let sealed_new = stored_secrets(&pool).await;
    assert!(sealed_new[0].starts_with(&format!("sealed:v1:{}:", rotated.active_id())));

    // The old key can go now: a service with only the new one reads every secret.
    let app = spawn_app_with(pool.clone(), &[("HERALD_ENCRYPTION_KEY", &new)]).await;
    let id = created.id();
    let shown = app
        .get(&tenant, &format!("/webhooks/{id}/secret"))
        .await
        .expect(200);
    assert_eq!(shown.body["secret"], secret.as_str());
}

#[test]
fn a_bad_key_stops_the_service_at_start() {
    let lookup = |name: &str| (name == "HERALD_ENCRYPTION_KEY").then(|| "c2hvcnQ=".to_owned());
    let error = herald_runtime::config::Config::from_lookup(lookup).unwrap_err();
    assert!(
        format!("{error:#}").contains("base64 of 32 bytes"),
        "{error:#}"
    );
}
