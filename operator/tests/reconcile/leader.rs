//! The leader lease: taken when free or expired, never from a live holder, and a lost race
//! (409) is a plain "not leader".

use herald_operator::leader::LeaderLease;
use http::Method;
use kube::Api;
use serde_json::{Value, json};

use crate::api_server::{Reply, ScriptedServer, step};

const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/herald-system/leases/herald-operator";
const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/herald-system/leases";

fn lease(holder: &str, renewed_secs_ago: i64) -> Value {
    let renewed = k8s_openapi::jiff::Timestamp::now().as_second() - renewed_secs_ago;
    let at = k8s_openapi::jiff::Timestamp::from_second(renewed)
        .unwrap()
        .to_string();
    json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": { "name": "herald-operator", "namespace": "herald-system", "resourceVersion": "5" },
        "spec": { "holderIdentity": holder, "leaseDurationSeconds": 15, "renewTime": at, "acquireTime": at, "leaseTransitions": 2 },
    })
}

async fn try_hold(script: Vec<crate::api_server::Step>) -> (bool, Vec<crate::api_server::Seen>) {
    let (client, server) = ScriptedServer::start(script);
    let lease = LeaderLease::new(
        Api::namespaced(client.clone(), "herald-system"),
        "herald-operator",
        "pod-a",
    );
    let held = lease.try_hold().await.expect("lease call");
    drop(lease);
    (held, server.finish(client).await)
}

#[tokio::test]
async fn a_missing_lease_is_created_by_the_first_replica() {
    let (held, seen) = try_hold(vec![
        step(Method::GET, LEASE, Reply::Status(404, "NotFound")),
        step(Method::POST, LEASES, Reply::Echo),
    ])
    .await;
    assert!(held);
    assert_eq!(seen[1].body["spec"]["holderIdentity"], "pod-a");
    assert_eq!(seen[1].body["spec"]["leaseDurationSeconds"], 15);
}

#[tokio::test]
async fn a_live_holder_keeps_the_lease() {
    let (held, _) = try_hold(vec![step(
        Method::GET,
        LEASE,
        Reply::Json(200, lease("pod-b", 3)),
    )])
    .await;
    assert!(!held);
}

#[tokio::test]
async fn an_expired_lease_is_taken_with_its_resource_version() {
    let (held, seen) = try_hold(vec![
        step(Method::GET, LEASE, Reply::Json(200, lease("pod-b", 60))),
        step(Method::PUT, LEASE, Reply::Echo),
    ])
    .await;
    assert!(held);
    let put = &seen[1].body;
    assert_eq!(
        put["metadata"]["resourceVersion"], "5",
        "optimistic concurrency"
    );
    assert_eq!(put["spec"]["holderIdentity"], "pod-a");
    assert_eq!(put["spec"]["leaseTransitions"], 3);
}

#[tokio::test]
async fn losing_the_race_for_an_expired_lease_is_not_an_error() {
    let (held, _) = try_hold(vec![
        step(Method::GET, LEASE, Reply::Json(200, lease("pod-b", 60))),
        step(Method::PUT, LEASE, Reply::Status(409, "Conflict")),
    ])
    .await;
    assert!(!held);
}

#[tokio::test]
async fn the_holder_renews_and_keeps_its_acquire_time() {
    let before = lease("pod-a", 4);
    let (held, seen) = try_hold(vec![
        step(Method::GET, LEASE, Reply::Json(200, before.clone())),
        step(Method::PUT, LEASE, Reply::Echo),
    ])
    .await;
    assert!(held);
    let spec = &seen[1].body["spec"];
    let time = |v: &Value| {
        v.as_str()
            .unwrap()
            .parse::<k8s_openapi::jiff::Timestamp>()
            .unwrap()
    };
    assert_eq!(
        time(&spec["acquireTime"]),
        time(&before["spec"]["acquireTime"])
    );
    assert_eq!(spec["leaseTransitions"], 2);
    assert!(time(&spec["renewTime"]) > time(&before["spec"]["renewTime"]));
}
