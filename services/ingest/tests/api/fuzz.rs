//! Random JSON at the ingest handlers: whatever arrives, the answer is never a 5xx.

use poem::http::Method;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{Map, Value};
use sqlx::PgPool;

use crate::helpers::spawn_app;

const CASES: usize = 300;

/// Any JSON document, nested up to a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,40}".prop_map(Value::String),
        Just(Value::String("order.created".into())),
        Just(Value::String("https://hooks.example.com/x".into())),
        Just(Value::String("http://127.0.0.1/".into())),
        Just(Value::String(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()
        )),
        Just(Value::String("2026-01-02T03:04:05Z".into())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(field_name(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Mostly the fields the API knows, so that values reach deep validation.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "type",
            "payload",
            "timestamp",
            "url",
            "event_types",
            "secret",
            "description",
            "enabled",
            "name",
            "schema",
            "burst",
            "max_payload_bytes",
            "max_webhooks",
        ])
        .prop_map(str::to_owned),
        "[a-z_]{1,12}",
    ]
}

/// An object with the known fields of every body, each present or not, each of any value.
fn api_shaped() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(field_name(), any_json(), 0..5)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn cases() -> Vec<Value> {
    let mut runner = TestRunner::deterministic();
    let strategy = prop_oneof![any_json(), api_shaped()];
    (0..CASES)
        .map(|_| strategy.new_tree(&mut runner).expect("a case").current())
        .collect()
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn random_json_never_gets_a_server_error(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("fuzz").await;
    app.event_type(&key, "order.created").await;
    let webhook = app.webhook(&key, &[]).await;
    let webhook_path = format!("/webhooks/{webhook}");
    let routes: [(Method, &str, Option<&str>); 6] = [
        (Method::POST, "/events", Some(&key)),
        (Method::POST, "/webhooks", Some(&key)),
        (Method::PATCH, &webhook_path, Some(&key)),
        (Method::POST, "/event-types", Some(&key)),
        (
            Method::POST,
            "/admin/tenants",
            Some(crate::helpers::ADMIN_TOKEN),
        ),
        (
            Method::PUT,
            "/admin/tenants/fuzz/quotas",
            Some(crate::helpers::ADMIN_TOKEN),
        ),
    ];
    for (i, body) in cases().into_iter().enumerate() {
        let (method, path, auth) = &routes[i % routes.len()];
        let reply = app
            .call(method.clone(), path, *auth, Some(body.clone()))
            .await;
        assert!(
            reply.status.is_success() || reply.status.is_client_error(),
            "{method} {path} with {body} answered {}: {:#}",
            reply.status,
            reply.body
        );
        assert!(
            reply.status.is_success() || reply.body["error"].is_string(),
            "{body}: no JSON error"
        );
    }
}

#[sqlx::test(migrator = "herald_runtime::MIGRATOR")]
async fn random_bytes_never_get_a_server_error(pool: PgPool) {
    let app = spawn_app(pool).await;
    let key = app.tenant("fuzz").await;
    let mut runner = TestRunner::deterministic();
    let bytes = prop::collection::vec(any::<u8>(), 0..200);
    for _ in 0..100 {
        let body = bytes.new_tree(&mut runner).expect("a case").current();
        for path in ["/events", "/webhooks", "/event-types"] {
            let reply = app
                .call_raw(
                    Method::POST,
                    path,
                    &key,
                    "application/json",
                    body.clone(),
                    &[],
                )
                .await;
            assert!(
                reply.status.is_client_error(),
                "{path} with {body:?}: {}",
                reply.status
            );
        }
    }
}
