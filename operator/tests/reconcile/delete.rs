//! Deleting a resource: tenant disabled, consumer deleted, data kept, finalizer released.

use herald_operator::controller::reconcile;
use http::Method;
use kube::runtime::controller::Action;
use serde_json::json;
use sqlx::PgPool;

use crate::api_server::{Reply, ScriptedServer, step};
use crate::fixtures::*;

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn deletion_disables_the_tenant_keeps_its_data_and_releases_the_finalizer(pool: PgPool) {
    let herald = Herald::start(pool).await;
    let (client, server) = ScriptedServer::start(creation_script(false));
    let spec = json!({ "tenant": "acme" });
    reconcile(
        resource(spec.clone(), 1, None).into(),
        herald.context(client.clone()),
    )
    .await
    .expect("created");
    let key = key_in(&server.finish(client).await[2].body);
    herald.event_type(&key).await;
    let event = herald.stack.emit(&key, json!({ "order": 1 })).await;

    let mut deleting = resource(spec, 1, None);
    deleting.metadata.deletion_timestamp = Some(
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now()),
    );
    let (client, server) = ScriptedServer::start(vec![
        step(Method::GET, SECRET, Reply::Json(200, secret_of("acme"))),
        step(Method::POST, EVENTS, Reply::Echo),
        step(Method::PATCH, RESOURCE, stored()),
    ]);
    let action = reconcile(deleting.into(), herald.context(client.clone())).await;
    let seen = server.finish(client).await;

    assert_eq!(action.expect("cleaned up"), Action::await_change());
    assert_eq!(seen[1].body["reason"], "TenantDisabled");
    let ops = seen[2].body.as_array().expect("a JSON patch").clone();
    assert_eq!(
        ops[0]["op"], "test",
        "the finalizer is checked before removal: {ops:#?}"
    );
    assert_eq!(ops[1]["op"], "remove");
    assert_eq!(ops[1]["path"], "/metadata/finalizers/0");

    assert!(
        herald.consumer("acme").await.is_none(),
        "the consumer is gone"
    );
    let (_, tenant) = herald.admin_get("/admin/tenants/acme").await;
    assert_eq!(tenant["status"], "disabled");
    let path = format!("/events/{}", event["id"].as_str().unwrap());
    assert_eq!(
        herald.get_with_key_until(&key, &path, 403).await,
        403,
        "the key is refused"
    );
    let kept = herald.stack.count("SELECT count(*) FROM events").await;
    assert_eq!(kept, 1, "the tenant's events stay");
}
