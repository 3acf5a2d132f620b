use poem::http::Method;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::spawn_app;

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn quotas_update_partially_and_are_audited(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    let before = app.get(&key, "/quotas/acme").await.expect(200);
    assert_eq!(before.body["limits"]["max_payload_bytes"], 262144);
    assert_eq!(before.body["usage"]["webhooks"], 0);

    let reply = app
        .admin(
            Method::PUT,
            "/admin/tenants/acme/quotas",
            Some(json!({ "events_per_second": 7, "max_webhooks": 3 })),
        )
        .await
        .expect(200);
    assert_eq!(reply.body["limits"]["events_per_second"], 7);
    assert_eq!(
        reply.body["limits"]["burst"],
        before.body["limits"]["burst"]
    );

    app.webhook(&key, &[]).await;
    let after = app.get(&key, "/quotas/acme").await.expect(200);
    assert_eq!(after.body["limits"]["max_webhooks"], 3);
    assert_eq!(after.body["usage"]["webhooks"], 1);
    let audited = app
        .count("SELECT count(*) FROM audit_log WHERE action = 'quotas.updated'")
        .await;
    assert_eq!(audited, 1);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn quota_values_are_checked(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    for body in [
        json!({ "burst": 0 }),
        json!({ "max_payload_bytes": 5_000_000 }),
        json!({ "events_per_second": -1 }),
        json!({ "events_per_second": "fast" }),
        json!({ "max_webhook": 3 }),
    ] {
        let reply = app
            .admin(
                Method::PUT,
                "/admin/tenants/acme/quotas",
                Some(body.clone()),
            )
            .await;
        assert_eq!(reply.status.as_u16(), 400, "{body}: {:#}", reply.body);
    }
    app.admin(Method::PUT, "/admin/tenants/nobody/quotas", Some(json!({})))
        .await
        .expect(404);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn a_tenant_reads_only_its_own_quotas(pool: PgPool) {
    let app = spawn_app(pool).await;
    let a = app.tenant("tenant-a").await;
    let b = app.tenant("tenant-b").await;
    let own = app.get(&a, "/quotas/tenant-a").await.expect(200);
    app.get(
        &a,
        &format!("/quotas/{}", own.body["tenant"].as_str().unwrap()),
    )
    .await
    .expect(200);
    app.get(&b, "/quotas/tenant-a").await.expect(404);
    app.admin(Method::GET, "/quotas/tenant-a", None)
        .await
        .expect(200);
    app.admin(Method::GET, "/quotas/nobody", None)
        .await
        .expect(404);
    app.call(Method::GET, "/quotas/tenant-a", None, None)
        .await
        .expect(401);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn the_concurrency_quota_is_the_tenant_consumers_max_ack_pending(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.tenant("acme").await;
    let url = app.nats.as_ref().unwrap().url().to_owned();
    let js = herald_runtime::jetstream::context(async_nats::connect(url).await.unwrap());
    let stream = js
        .get_stream("herald_DELIVERIES")
        .await
        .expect("the stream exists");
    let consumer_cap = || async {
        let mut consumer = stream
            .get_consumer::<async_nats::jetstream::consumer::pull::Config>("tenant_acme")
            .await
            .expect("the tenant's consumer exists");
        consumer.info().await.unwrap().config.max_ack_pending
    };
    assert_eq!(consumer_cap().await, 20);
    let quotas = json!({ "max_concurrent_deliveries": 7 });
    app.admin(Method::PUT, "/admin/tenants/acme/quotas", Some(quotas))
        .await
        .expect(200);
    assert_eq!(consumer_cap().await, 7);
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn new_tenants_start_with_the_configured_default_quotas(pool: PgPool) {
    let settings = [(
        "HERALD_DEFAULT_QUOTAS",
        "events_per_second=500,max_concurrent_deliveries=9",
    )];
    let app = crate::helpers::spawn_app_with(pool, &settings).await;
    let key = app.tenant("acme").await;
    let report = app.get(&key, "/quotas/acme").await.expect(200);
    assert_eq!(report.body["limits"]["events_per_second"], 500);
    assert_eq!(report.body["limits"]["max_concurrent_deliveries"], 9);
    assert_eq!(
        report.body["limits"]["burst"], 200,
        "unnamed limits keep the built-in default"
    );
}

/// In flight: the tenant's jobs a dispatcher holds and has not finished, as JetStream counts
/// them (the count `max_concurrent_deliveries` caps).
#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn in_flight_counts_jobs_a_dispatcher_holds(pool: PgPool) {
    use async_nats::jetstream::consumer::pull;
    use futures::StreamExt;

    let app = spawn_app(pool).await;
    let key = app.tenant("acme").await;
    app.event_type(&key, "order.created").await;
    app.webhook(&key, &[]).await;
    app.emit(&key, "order.created", json!({})).await.expect(201);
    let idle = app.get(&key, "/quotas/acme").await.expect(200);
    assert_eq!(idle.body["usage"]["in_flight"], 0);

    // A dispatcher's fetch, never acknowledged.
    let js = app.jetstream().await;
    let consumer = js
        .get_stream("herald_DELIVERIES")
        .await
        .expect("the deliveries stream")
        .get_consumer::<pull::Config>("tenant_acme")
        .await
        .expect("the tenant's consumer");
    let mut jobs = consumer
        .fetch()
        .max_messages(1)
        .expires(std::time::Duration::from_secs(5))
        .messages()
        .await
        .expect("a fetch");
    let _held = jobs.next().await.expect("a job").expect("a job message");

    let busy = app.get(&key, "/quotas/acme").await.expect(200);
    assert_eq!(busy.body["usage"]["in_flight"], 1);
}
