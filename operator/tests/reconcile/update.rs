//! Changes to an existing tenant: quotas, suspension, retry schedule, a consumer gone astray.

use herald_operator::controller::reconcile;
use http::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::api_server::{Reply, ScriptedServer, step};
use crate::fixtures::*;

/// Creates `acme` through the operator; returns its API key.
async fn created(herald: &Herald, spec: Value) -> String {
    let script = creation_script(spec.get("quotas").is_some());
    let (client, server) = ScriptedServer::start(script);
    reconcile(
        resource(spec, 1, None).into(),
        herald.context(client.clone()),
    )
    .await
    .expect("created");
    key_in(&server.finish(client).await[2].body)
}

/// One pass over an existing tenant whose calls are: read the Secret, one Event per
/// `events`, the status patch. Returns the Event reasons and the status patch.
async fn pass(
    herald: &Herald,
    spec: Value,
    generation: i64,
    events: usize,
) -> (Vec<String>, Value) {
    let mut script = vec![step(
        Method::GET,
        SECRET,
        Reply::Json(200, secret_of("acme")),
    )];
    script.extend((0..events).map(|_| step(Method::POST, EVENTS, Reply::Echo)));
    script.push(step(Method::PATCH, STATUS, stored()));
    let (client, server) = ScriptedServer::start(script);
    let action = reconcile(
        resource(spec, generation, None).into(),
        herald.context(client.clone()),
    )
    .await;
    let seen = server.finish(client).await;
    action.expect("reconciled");
    let reasons = seen[1..=events]
        .iter()
        .map(|s| s.body["reason"].as_str().unwrap_or_default().to_owned())
        .collect();
    (reasons, seen[events + 1].body.clone())
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn changing_quotas_updates_herald_and_the_consumer(pool: PgPool) {
    let herald = Herald::start(pool).await;
    created(
        &herald,
        json!({ "tenant": "acme", "quotas": { "maxConcurrentDeliveries": 7 } }),
    )
    .await;

    let spec =
        json!({ "tenant": "acme", "quotas": { "maxConcurrentDeliveries": 3, "maxDlqSize": 50 } });
    let (reasons, status) = pass(&herald, spec, 2, 1).await;

    assert_eq!(reasons, ["QuotasUpdated"]);
    assert_eq!(status["status"]["observedGeneration"], 2);
    assert_eq!(condition(&status, "QuotasApplied")["observedGeneration"], 2);
    let (_, quotas) = herald.admin_get("/quotas/acme").await;
    assert_eq!(quotas["limits"]["max_concurrent_deliveries"], 3);
    assert_eq!(quotas["limits"]["max_dlq_size"], 50);
    assert_eq!(
        herald
            .consumer("acme")
            .await
            .expect("consumer")
            .max_ack_pending,
        3
    );
}

/// A field taken out of the spec goes back to the platform's default, in Herald and in the
/// consumer, rather than keeping the value the spec once set.
#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_quota_removed_from_the_spec_returns_to_the_default(pool: PgPool) {
    let herald = Herald::start(pool).await;
    let defaults = herald.stack.config.default_quotas;
    created(
        &herald,
        json!({ "tenant": "acme", "quotas": { "maxConcurrentDeliveries": 7, "burst": 999 } }),
    )
    .await;

    let spec = json!({ "tenant": "acme", "quotas": { "burst": 999 } });
    let (reasons, _) = pass(&herald, spec, 2, 1).await;
    assert_eq!(reasons, ["QuotasUpdated"]);
    let (_, quotas) = herald.admin_get("/quotas/acme").await;
    assert_eq!(
        quotas["limits"]["max_concurrent_deliveries"],
        defaults.max_concurrent_deliveries
    );
    assert_eq!(
        quotas["limits"]["burst"], 999,
        "the field still named stays"
    );
    let consumer = herald.consumer("acme").await.expect("consumer");
    assert_eq!(
        consumer.max_ack_pending,
        i64::from(defaults.max_concurrent_deliveries)
    );

    // Nothing left to change: the next pass sets nothing.
    let spec = json!({ "tenant": "acme", "quotas": { "burst": 999 } });
    let (reasons, _) = pass(&herald, spec, 3, 0).await;
    assert!(reasons.is_empty(), "{reasons:?}");
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn suspension_pauses_the_tenant_and_resuming_restarts_it(pool: PgPool) {
    let herald = Herald::start(pool).await;
    created(&herald, json!({ "tenant": "acme" })).await;

    let (reasons, status) = pass(
        &herald,
        json!({ "tenant": "acme", "suspended": true }),
        2,
        1,
    )
    .await;
    assert_eq!(reasons, ["Suspended"]);
    assert_eq!(condition(&status, "Ready")["status"], "True");
    assert_eq!(condition(&status, "Ready")["reason"], "Suspended");
    assert_eq!(
        herald.admin_get("/admin/tenants/acme").await.1["status"],
        "suspended"
    );
    assert!(
        herald.consumer("acme").await.is_some(),
        "queued jobs keep their consumer"
    );

    let (reasons, status) = pass(&herald, json!({ "tenant": "acme" }), 3, 1).await;
    assert_eq!(reasons, ["Resumed"]);
    assert_eq!(condition(&status, "Ready")["reason"], "Reconciled");
    assert_eq!(
        herald.admin_get("/admin/tenants/acme").await.1["status"],
        "active"
    );
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_retry_schedule_override_reaches_the_tenant(pool: PgPool) {
    let herald = Herald::start(pool).await;
    created(&herald, json!({ "tenant": "acme" })).await;

    let spec = json!({ "tenant": "acme", "retrySchedule": ["30s", "60s", "10m"] });
    let (reasons, _) = pass(&herald, spec.clone(), 2, 1).await;
    assert_eq!(reasons, ["TenantUpdated"]);
    let (_, tenant) = herald.admin_get("/admin/tenants/acme").await;
    assert_eq!(tenant["retry_schedule"], json!(["30s", "1m", "10m"]));

    // Herald writes 60s as 1m: the same schedule, so nothing to change.
    let (reasons, _) = pass(&herald, spec, 3, 0).await;
    assert!(reasons.is_empty());
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_deleted_consumer_is_created_again(pool: PgPool) {
    let mut herald = Herald::start(pool).await;
    let spec = json!({ "tenant": "acme", "quotas": { "maxConcurrentDeliveries": 4 } });
    created(&herald, spec.clone()).await;
    // Herald's relay would repair the consumer too; with it stopped, only the operator can.
    herald.stack.stop_relay().await;
    herald
        .consumers
        .delete("acme")
        .await
        .expect("deleted by hand");

    let (reasons, status) = pass(&herald, spec, 1, 1).await;

    assert_eq!(reasons, ["ConsumerCreated"]);
    assert_eq!(condition(&status, "ConsumerReady")["status"], "True");
    assert_eq!(
        herald
            .consumer("acme")
            .await
            .expect("consumer")
            .max_ack_pending,
        4
    );
}
