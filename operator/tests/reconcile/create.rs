//! A new resource: finalizer first, then tenant, key Secret, quotas, consumer and status.

use herald_operator::controller::reconcile;
use http::Method;
use kube::runtime::controller::Action;
use serde_json::json;
use sqlx::PgPool;

use crate::api_server::{Reply, ScriptedServer, step};
use crate::fixtures::*;

fn spec() -> serde_json::Value {
    json!({
        "tenant": "acme",
        "displayName": "Acme Corp",
        "quotas": { "eventsPerSecond": 50, "burst": 100, "maxConcurrentDeliveries": 7 },
    })
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn the_finalizer_comes_before_anything_is_created(pool: PgPool) {
    let herald = Herald::start(pool).await;
    let mut fresh = resource(spec(), 1, None);
    fresh.metadata.finalizers = None;
    let (client, server) = ScriptedServer::start(vec![step(Method::PATCH, RESOURCE, stored())]);

    let action = reconcile(fresh.into(), herald.context(client.clone())).await;
    let seen = server.finish(client).await;

    assert_eq!(action.expect("reconciled"), Action::await_change());
    let patch = &seen[0].body;
    assert!(
        patch.as_array().is_some_and(|ops| ops
            .iter()
            .any(|op| op["op"] == "add" && op["value"] == json!(["herald.dev/cleanup"]))),
        "a JSON patch adding the finalizer: {patch:#}"
    );
    assert_eq!(herald.admin_get("/admin/tenants/acme").await.0, 404);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn applying_a_spec_creates_tenant_key_quotas_and_consumer(pool: PgPool) {
    let herald = Herald::start(pool).await;
    let (client, server) = ScriptedServer::start(creation_script(true));

    let action = reconcile(
        resource(spec(), 1, None).into(),
        herald.context(client.clone()),
    )
    .await;
    let seen = server.finish(client).await;
    assert_eq!(
        action.expect("reconciled"),
        Action::requeue(std::time::Duration::from_secs(60))
    );

    let reasons: Vec<_> = seen
        .iter()
        .filter(|s| s.path == EVENTS)
        .map(|s| s.body["reason"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(reasons, ["TenantCreated", "ApiKeyIssued", "QuotasUpdated"]);
    let event = &seen[1].body;
    assert_eq!(
        (event["type"].as_str(), event["regarding"]["name"].as_str()),
        (Some("Normal"), Some("acme"))
    );

    let secret = &seen[2].body;
    let owner = &secret["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "WebhookTenant");
    assert_eq!(owner["controller"], true);
    assert_eq!(secret["metadata"]["labels"]["herald.dev/tenant"], "acme");
    let key = key_in(secret);
    assert_eq!(
        herald.get_with_key(&key, "/quotas/acme").await,
        200,
        "the stored key works"
    );

    let status = &seen[5].body;
    assert_eq!(condition(status, "Ready")["status"], "True");
    assert_eq!(condition(status, "Ready")["reason"], "Reconciled");
    assert_eq!(condition(status, "ConsumerReady")["status"], "True");
    assert_eq!(condition(status, "QuotasApplied")["status"], "True");
    assert_eq!(condition(status, "QuotasApplied")["observedGeneration"], 1);
    assert_eq!(status["status"]["observedGeneration"], 1);
    assert_eq!(status["status"]["consumer"], "tenant_acme");
    assert_eq!(status["status"]["apiKeySecret"], "acme-api-key");
    assert_eq!(
        status["status"]["usage"],
        json!({ "inFlight": 0, "dlqSize": 0 })
    );

    let (_, tenant) = herald.admin_get("/admin/tenants/acme").await;
    assert_eq!(tenant["display_name"], "Acme Corp");
    let (_, quotas) = herald.admin_get("/quotas/acme").await;
    assert_eq!(quotas["limits"]["events_per_second"], 50);
    assert_eq!(quotas["limits"]["burst"], 100);
    assert_eq!(quotas["limits"]["max_concurrent_deliveries"], 7);
    let consumer = herald
        .consumer("acme")
        .await
        .expect("the tenant's consumer");
    assert_eq!(consumer.max_ack_pending, 7);
    assert_eq!(consumer.ack_wait, herald.stack.config.ack_wait);
    assert_eq!(
        consumer.max_deliver,
        herald.stack.config.dispatch.max_deliver
    );
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_repeat_changes_nothing_and_writes_no_status(pool: PgPool) {
    let herald = Herald::start(pool).await;
    let (client, server) = ScriptedServer::start(creation_script(true));
    reconcile(
        resource(spec(), 1, None).into(),
        herald.context(client.clone()),
    )
    .await
    .expect("first pass");
    let first = server.finish(client).await;
    let status = first[5].body["status"].clone();

    // The same resource, now carrying the status written: only the Secret is read.
    let (client, server) = ScriptedServer::start(vec![step(
        Method::GET,
        SECRET,
        Reply::Json(200, secret_of("acme")),
    )]);
    let again = resource(spec(), 1, Some(status));
    let action = reconcile(again.into(), herald.context(client.clone())).await;
    server.finish(client).await;
    action.expect("second pass");
}
