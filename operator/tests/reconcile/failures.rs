//! Failures: reported in the status and as a Warning Event, counted by reason, retried with
//! a growing delay; and a run cut short converging on the next.

use std::time::Duration;

use herald_operator::controller::{error_policy, reconcile};
use http::Method;
use kube::runtime::controller::Action;
use serde_json::json;
use sqlx::PgPool;

use crate::api_server::{Reply, ScriptedServer, step};
use crate::fixtures::*;

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn an_unreachable_herald_is_reported_counted_and_retried_with_backoff(pool: PgPool) {
    let herald = Herald::start(pool).await;
    let (client, server) = ScriptedServer::start(vec![
        step(Method::GET, SECRET, Reply::Status(404, "NotFound")),
        step(Method::PATCH, STATUS, stored()),
        step(Method::POST, EVENTS, Reply::Echo),
    ]);
    // Nothing listens on port 9 of loopback.
    let ctx = herald.context_at(client.clone(), "http://127.0.0.1:9");
    let resource = std::sync::Arc::new(resource(json!({ "tenant": "acme" }), 1, None));

    let error = reconcile(resource.clone(), ctx.clone())
        .await
        .expect_err("Herald is down");
    let delays: Vec<Action> = (0..3)
        .map(|_| error_policy(resource.clone(), &error, ctx.clone()))
        .collect();
    let metrics = ctx.metrics.encode();
    drop(ctx);
    let seen = server.finish(client).await;

    assert_eq!(error.reason(), "HeraldUnavailable");
    let status = &seen[1].body;
    for type_ in ["Ready", "QuotasApplied", "ConsumerReady"] {
        let found = condition(status, type_);
        assert_eq!(
            (&found["status"], &found["reason"]),
            (&json!("False"), &json!("HeraldUnavailable")),
            "{type_}"
        );
    }
    assert_eq!(seen[2].body["type"], "Warning");
    assert_eq!(seen[2].body["reason"], "HeraldUnavailable");
    let expected = [1, 2, 4].map(|s| Action::requeue(Duration::from_secs(s)));
    assert_eq!(delays, expected);
    let failures = "herald_operator_reconcile_failures_total{reason=\"HeraldUnavailable\"} 3";
    assert!(metrics.contains(failures), "{metrics}");
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_key_that_never_reached_its_secret_is_replaced_on_the_next_run(pool: PgPool) {
    let herald = Herald::start(pool).await;
    // The tenant is created, then storing its key fails.
    let (client, server) = ScriptedServer::start(vec![
        step(Method::GET, SECRET, Reply::Status(404, "NotFound")),
        step(Method::POST, EVENTS, Reply::Echo),
        step(Method::POST, SECRETS, Reply::Status(500, "InternalError")),
        step(Method::PATCH, STATUS, stored()),
        step(Method::POST, EVENTS, Reply::Echo),
    ]);
    let spec = json!({ "tenant": "acme" });
    let ctx = herald.context(client.clone());
    let failed = reconcile(resource(spec.clone(), 1, None).into(), ctx).await;
    let seen = server.finish(client).await;
    assert_eq!(
        failed.expect_err("the Secret was refused").reason(),
        "KubernetesApiError"
    );
    let lost_key = key_in(&seen[2].body);

    let (client, server) = ScriptedServer::start(vec![
        step(Method::GET, SECRET, Reply::Status(404, "NotFound")),
        step(Method::POST, SECRETS, Reply::Echo),
        step(Method::POST, EVENTS, Reply::Echo),
        step(Method::PATCH, STATUS, stored()),
    ]);
    let again = reconcile(
        resource(spec, 1, None).into(),
        herald.context(client.clone()),
    )
    .await;
    let seen = server.finish(client).await;
    again.expect("converged");

    let key = key_in(&seen[1].body);
    assert_ne!(key, lost_key);
    assert_eq!(seen[2].body["reason"], "ApiKeyIssued");
    assert_eq!(condition(&seen[3].body, "Ready")["status"], "True");
    assert_eq!(
        herald.get_with_key(&key, "/quotas/acme").await,
        200,
        "the new key works"
    );
    assert_eq!(
        herald
            .get_with_key_until(&lost_key, "/quotas/acme", 401)
            .await,
        401,
        "the lost key is revoked"
    );
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn renaming_the_tenant_is_refused(pool: PgPool) {
    let herald = Herald::start(pool).await;
    let (client, server) = ScriptedServer::start(vec![
        step(Method::GET, SECRET, Reply::Json(200, secret_of("acme"))),
        step(Method::PATCH, STATUS, stored()),
        step(Method::POST, EVENTS, Reply::Echo),
    ]);
    let renamed = resource(json!({ "tenant": "acme-two" }), 2, None);
    let error = reconcile(renamed.into(), herald.context(client.clone())).await;
    let seen = server.finish(client).await;

    assert_eq!(error.expect_err("refused").reason(), "TenantRenamed");
    assert_eq!(condition(&seen[1].body, "Ready")["reason"], "TenantRenamed");
    assert_eq!(
        herald.admin_get("/admin/tenants/acme-two").await.0,
        404,
        "nothing created"
    );
}
