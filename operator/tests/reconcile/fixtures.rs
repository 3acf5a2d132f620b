//! A real Herald (ingest and a dispatcher in-process, a fresh database, a private
//! nats-server, the API on a loopback port) for the operator to drive, and the resources the
//! scripted API server hands it.

use std::sync::Arc;
use std::time::Duration;

use herald_operator::consumer::{ConsumerState, Consumers};
use herald_operator::controller::Context;
use herald_operator::herald_api::HeraldApi;
use herald_operator::metrics::OperatorMetrics;
use herald_operator::resource::WebhookTenant;
use herald_operator::settings::consumer_defaults;
use herald_test_support::stack::{ADMIN, Stack, connect};
use poem::http::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

pub const NS: &str = "shop";
pub const SECRETS: &str = "/api/v1/namespaces/shop/secrets";
pub const SECRET: &str = "/api/v1/namespaces/shop/secrets/acme-api-key";
pub const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/shop/events";
pub const RESOURCE: &str = "/apis/herald.dev/v1alpha1/namespaces/shop/webhooktenants/acme";
pub const STATUS: &str = "/apis/herald.dev/v1alpha1/namespaces/shop/webhooktenants/acme/status";

pub struct Herald {
    pub stack: Stack,
    pub api_url: String,
    pub consumers: Consumers,
    _server: tokio::task::JoinHandle<()>,
}

impl Herald {
    pub async fn start(pool: PgPool) -> Self {
        let stack = Stack::start(pool, &[]).await;
        let nats = connect(&stack.config).await;
        let endpoint = herald_ingest::endpoint(&stack.config, stack.pool.clone(), nats.clone());
        let (addr, server) = herald_test_support::loopback::serve(endpoint).await;
        let consumers = Consumers::new(
            nats,
            herald_runtime::jetstream::Topology::of(&stack.config),
            consumer_defaults(&stack.config),
        );
        Self {
            stack,
            api_url: format!("http://{addr}"),
            consumers,
            _server: server,
        }
    }

    /// The operator's context over `client` (the scripted API server).
    pub fn context(&self, client: kube::Client) -> Arc<Context> {
        self.context_at(client, &self.api_url)
    }

    /// The same with Herald's API somewhere else (e.g. nowhere).
    pub fn context_at(&self, client: kube::Client, api_url: &str) -> Arc<Context> {
        Arc::new(Context::new(
            client,
            HeraldApi::new(api_url, ADMIN).expect("client"),
            self.consumers.clone(),
            Arc::new(OperatorMetrics::new()),
            self.stack.config.default_quotas,
            Duration::from_secs(60),
            "test",
        ))
    }

    pub async fn consumer(&self, tenant: &str) -> Option<ConsumerState> {
        self.consumers.state(tenant).await.expect("consumer info")
    }

    /// `GET` as the admin; the status and the body.
    pub async fn admin_get(&self, path: &str) -> (u16, Value) {
        let (status, body) = self.stack.call(Method::GET, path, ADMIN, None).await;
        (status.as_u16(), body)
    }

    /// Registers `order.created` for the tenant of `key`, so it can emit events.
    pub async fn event_type(&self, key: &str) {
        let body = json!({ "name": "order.created" });
        let (status, _) = self
            .stack
            .call(Method::POST, "/event-types", key, Some(body))
            .await;
        assert!(status.is_success(), "event type created: {status}");
    }

    /// `GET` with a tenant's API key; the status.
    pub async fn get_with_key(&self, key: &str, path: &str) -> u16 {
        self.stack
            .call(Method::GET, path, key, None)
            .await
            .0
            .as_u16()
    }

    /// `get_with_key` until it answers `expected`, for at most two seconds: the operator
    /// changed the key or tenant through another Herald replica, and a replica trusts what it
    /// read of a key for up to a second. The last status.
    pub async fn get_with_key_until(&self, key: &str, path: &str, expected: u16) -> u16 {
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        loop {
            let status = self.get_with_key(key, path).await;
            if status == expected || std::time::Instant::now() > deadline {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// `shop/acme` with this spec, generation and status, holding the operator's finalizer.
pub fn resource(spec: Value, generation: i64, status: Option<Value>) -> WebhookTenant {
    let mut object = json!({
        "apiVersion": "herald.dev/v1alpha1",
        "kind": "WebhookTenant",
        "metadata": {
            "name": "acme",
            "namespace": NS,
            "uid": "6f1c9a40-0000-4000-8000-000000000001",
            "generation": generation,
            "resourceVersion": "7",
            "finalizers": ["herald.dev/cleanup"],
        },
        "spec": spec,
    });
    if let Some(status) = status {
        object["status"] = status;
    }
    serde_json::from_value(object).expect("a WebhookTenant")
}

/// The key Secret as the API server would return it.
pub fn secret_of(tenant: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": { "name": "acme-api-key", "namespace": NS, "labels": { "herald.dev/tenant": tenant } },
        "data": { "api-key": "aGtfeA==", "tenant": "YWNtZQ==" },
    })
}

/// The API key stored in a created Secret's body.
pub fn key_in(secret: &Value) -> String {
    use base64::Engine;
    let encoded = secret["data"]["api-key"].as_str().expect("data.api-key");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("base64");
    String::from_utf8(bytes).expect("UTF-8")
}

/// The condition of this type in a status patch body.
pub fn condition<'a>(patch: &'a Value, type_: &str) -> &'a Value {
    patch["status"]["conditions"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["type"] == type_))
        .unwrap_or_else(|| panic!("no {type_} condition in {patch:#}"))
}

/// The API server's answer to a patch of the resource or its status: the stored object.
pub fn stored() -> crate::api_server::Reply {
    let object = serde_json::to_value(resource(json!({ "tenant": "acme" }), 1, None));
    crate::api_server::Reply::Json(200, object.expect("JSON"))
}

/// The calls of a first pass over a new resource: the Secret looked up (absent), Event
/// `TenantCreated`, the Secret created, Event `ApiKeyIssued`, Event `QuotasUpdated` when the
/// spec sets quotas, the status patched.
pub fn creation_script(sets_quotas: bool) -> Vec<crate::api_server::Step> {
    use crate::api_server::{Reply, step};
    use poem::http::Method as M;
    let mut script = vec![
        step(M::GET, SECRET, Reply::Status(404, "NotFound")),
        step(M::POST, EVENTS, Reply::Echo),
        step(M::POST, SECRETS, Reply::Echo),
        step(M::POST, EVENTS, Reply::Echo),
    ];
    if sets_quotas {
        script.push(step(M::POST, EVENTS, Reply::Echo));
    }
    script.push(step(M::PATCH, STATUS, stored()));
    script
}
