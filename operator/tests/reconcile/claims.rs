//! Two resources naming one tenant: the first created manages it; a later one is refused,
//! gets no API key, changes no quota, and when deleted leaves the tenant alone.

use herald_operator::controller::{Context, reconcile};
use herald_operator::resource::WebhookTenant;
use http::Method;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{self, Store, store::Writer};
use kube::runtime::watcher;
use serde_json::json;
use sqlx::PgPool;

use crate::api_server::{Reply, ScriptedServer, step};
use crate::fixtures::*;

const OTHER_STATUS: &str = "/apis/herald.dev/v1alpha1/namespaces/other/webhooktenants/acme/status";
const OTHER_RESOURCE: &str = "/apis/herald.dev/v1alpha1/namespaces/other/webhooktenants/acme";
const OTHER_EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/other/events";

/// `shop/acme`, created an hour ago, and `other/acme`, created now, both for tenant `acme`;
/// the second asks for other quotas.
fn two_claimants() -> (WebhookTenant, WebhookTenant) {
    let mut first = resource(json!({ "tenant": "acme" }), 1, None);
    let an_hour_ago =
        k8s_openapi::jiff::Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_hours(1);
    first.metadata.creation_timestamp = Some(Time(an_hour_ago));
    let spec = json!({ "tenant": "acme", "quotas": { "maxConcurrentDeliveries": 3 } });
    let mut second = resource(spec, 1, None);
    second.metadata.namespace = Some("other".into());
    second.metadata.uid = Some("6f1c9a40-0000-4000-8000-000000000002".into());
    second.metadata.creation_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::now()));
    (first, second)
}

/// A store holding `resources`, as the controller's reflector holds every resource; the
/// writer must outlive its use.
fn store_of(resources: &[&WebhookTenant]) -> (Store<WebhookTenant>, Writer<WebhookTenant>) {
    let (store, mut writer) = reflector::store();
    writer.apply_watcher_event(&watcher::Event::Init);
    for resource in resources {
        writer.apply_watcher_event(&watcher::Event::InitApply((*resource).clone()));
    }
    writer.apply_watcher_event(&watcher::Event::InitDone);
    (store, writer)
}

fn watching(ctx: std::sync::Arc<Context>, store: &Store<WebhookTenant>) -> std::sync::Arc<Context> {
    ctx.claims.watch(store.clone());
    ctx
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_second_resource_for_a_managed_tenant_is_refused(pool: PgPool) {
    let herald = Herald::start(pool).await;
    let (first, second) = two_claimants();
    let (store, _writer) = store_of(&[&first, &second]);
    let (client, server) = ScriptedServer::start(creation_script(false));
    reconcile(
        first.clone().into(),
        watching(herald.context(client.clone()), &store),
    )
    .await
    .expect("the first resource creates the tenant");
    server.finish(client).await;
    let keys = herald.stack.count("SELECT count(*) FROM api_keys").await;

    // The second: a status saying why, a warning Event, and nothing else.
    let (client, server) = ScriptedServer::start(vec![
        step(Method::PATCH, OTHER_STATUS, stored()),
        step(Method::POST, OTHER_EVENTS, Reply::Echo),
    ]);
    let refused = reconcile(
        second.into(),
        watching(herald.context(client.clone()), &store),
    )
    .await;
    let seen = server.finish(client).await;
    let error = refused.expect_err("refused");
    assert_eq!(error.reason(), "TenantTaken");
    assert!(error.to_string().contains("shop/acme"), "{error}");
    let ready = condition(&seen[0].body, "Ready");
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "TenantTaken");
    assert_eq!(seen[1].body["reason"], "TenantTaken");
    assert_eq!(
        herald.stack.count("SELECT count(*) FROM api_keys").await,
        keys,
        "no API key was issued for the second resource"
    );
    let (_, quotas) = herald.admin_get("/quotas/acme").await;
    assert_eq!(
        quotas["limits"]["max_concurrent_deliveries"],
        herald.stack.config.default_quotas.max_concurrent_deliveries,
        "the second resource's quotas were not applied"
    );

    // The first still manages the tenant: a pass over it finds nothing to change.
    let (client, server) = ScriptedServer::start(vec![
        step(Method::GET, SECRET, Reply::Json(200, secret_of("acme"))),
        step(Method::PATCH, STATUS, stored()),
    ]);
    reconcile(
        first.into(),
        watching(herald.context(client.clone()), &store),
    )
    .await
    .expect("the first resource reconciles");
    server.finish(client).await;
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn deleting_the_second_resource_leaves_the_tenant_alone(pool: PgPool) {
    let herald = Herald::start(pool).await;
    let (first, mut second) = two_claimants();
    let (client, server) = ScriptedServer::start(creation_script(false));
    reconcile(first.clone().into(), herald.context(client.clone()))
        .await
        .expect("created");
    server.finish(client).await;

    second.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::now()));
    let (store, _writer) = store_of(&[&first, &second]);
    let (client, server) = ScriptedServer::start(vec![
        step(Method::POST, OTHER_EVENTS, Reply::Echo),
        step(Method::PATCH, OTHER_RESOURCE, stored()),
    ]);
    let action = reconcile(
        second.into(),
        watching(herald.context(client.clone()), &store),
    )
    .await;
    let seen = server.finish(client).await;
    assert_eq!(action.expect("released"), Action::await_change());
    assert_eq!(seen[0].body["reason"], "TenantLeftAlone");
    assert_eq!(seen[1].body[1]["op"], "remove", "the finalizer is released");
    let (_, tenant) = herald.admin_get("/admin/tenants/acme").await;
    assert_eq!(tenant["status"], "active");
    assert!(
        herald.consumer("acme").await.is_some(),
        "the consumer stays"
    );
}
