//! The whole of Herald in one test process: ingest (API and relay), a dispatcher and, on
//! request, the DLQ service, against the test's own nats-server and database. Services can
//! be stopped and started as a SIGTERM would.

use std::collections::HashMap;
use std::time::Duration;

use crate::{NatsServer, ScriptedDns, eventually};
use herald_dispatcher::supervisor::Supervisor;
use herald_runtime::Config;
use herald_runtime::shutdown::ShutdownToken;
use poem::EndpointExt;
use poem::endpoint::BoxEndpoint;
use poem::http::StatusCode;
use poem::test::TestClient;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::task::JoinHandle;

pub const ADMIN: &str = "admin-token";
/// The test schedule: six attempts within about 1.5 s.
pub const SCHEDULE: [u64; 5] = [100, 200, 300, 400, 500];

pub struct Stack {
    pub pool: PgPool,
    pub nats: NatsServer,
    pub config: Config,
    client: TestClient<BoxEndpoint<'static>>,
    ingest_background: ShutdownToken,
    ingest_background_task: Option<JoinHandle<()>>,
    dispatcher: Option<(ShutdownToken, JoinHandle<()>)>,
    dlq: Option<(ShutdownToken, JoinHandle<()>)>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.ingest_background.cancel();
        for (token, _) in self.dispatcher.iter().chain(self.dlq.iter()) {
            token.cancel();
        }
    }
}

impl Stack {
    /// Ingest (API and relay) and a dispatcher, with `settings` over the test defaults. Host
    /// names resolve through an empty scripted DNS: tests never ask a real resolver.
    pub async fn start(pool: PgPool, settings: &[(&str, &str)]) -> Self {
        Self::start_resolving(pool, settings, &ScriptedDns::default()).await
    }

    /// As `start`, with host names resolved by `dns` at registration and at delivery.
    pub async fn start_resolving(
        pool: PgPool,
        settings: &[(&str, &str)],
        dns: &ScriptedDns,
    ) -> Self {
        let nats = NatsServer::start().expect("nats-server starts");
        Self::start_on(pool, nats, settings, dns).await
    }

    /// As `start_resolving`, on `nats`, reached through `NATS_URL` with the credentials it
    /// asks for.
    pub async fn start_on(
        pool: PgPool,
        nats: NatsServer,
        settings: &[(&str, &str)],
        dns: &ScriptedDns,
    ) -> Self {
        let schedule: Vec<String> = SCHEDULE.iter().map(|ms| format!("{ms}ms")).collect();
        let mut vars: HashMap<String, String> = HashMap::from([
            ("NATS_URL".into(), nats.url_with_credentials()),
            ("HERALD_ADMIN_TOKEN".into(), ADMIN.into()),
            ("HERALD_API_ADDR".into(), "127.0.0.1:0".into()),
            ("HERALD_ALLOW_PRIVATE_CIDRS".into(), "127.0.0.0/8".into()),
            ("HERALD_RETRY_SCHEDULE".into(), schedule.join(",")),
            ("HERALD_DELIVERY_TIMEOUT".into(), "3s".into()),
        ]);
        for (name, value) in settings {
            vars.insert((*name).into(), (*value).into());
        }
        let mut config = Config::from_lookup(|n| vars.get(n).cloned()).expect("test config");
        config.dns = dns.lookup();
        let ingest_nats = connect(&config).await;
        let client = TestClient::new(
            herald_ingest::endpoint(&config, pool.clone(), ingest_nats.clone()).boxed(),
        );
        let ingest_background = ShutdownToken::new();
        let ingest_background_task = herald_ingest::background(
            &config,
            pool.clone(),
            ingest_nats,
            ingest_background.clone(),
        );
        let mut stack = Self {
            pool,
            nats,
            config,
            client,
            ingest_background,
            ingest_background_task: Some(ingest_background_task),
            dispatcher: None,
            dlq: None,
        };
        stack.start_dispatcher().await;
        stack
    }

    /// Stops ingest's relay and housekeeping and waits until they have: nothing in Herald
    /// repairs JetStream's topology behind a test's back after this.
    pub async fn stop_relay(&mut self) {
        self.ingest_background.cancel();
        if let Some(task) = self.ingest_background_task.take() {
            let _ = task.await;
        }
    }

    pub async fn start_dispatcher(&mut self) {
        self.start_dispatcher_with(|_| {}).await;
    }

    /// Starts a dispatcher whose supervisor `adjust` changed first (its discovery interval...).
    pub async fn start_dispatcher_with(&mut self, adjust: impl FnOnce(&mut Supervisor)) {
        assert!(self.dispatcher.is_none(), "a dispatcher already runs");
        let nats = connect(&self.config).await;
        let mut registry = prometheus_client::registry::Registry::default();
        let mut supervisor =
            herald_dispatcher::supervisor(&self.config, self.pool.clone(), nats, &mut registry)
                .expect("dispatcher builds");
        adjust(&mut supervisor);
        let token = ShutdownToken::new();
        let handle = tokio::spawn(supervisor.run(token.clone()));
        self.dispatcher = Some((token, handle));
    }

    /// Stops the dispatcher as SIGTERM would, and waits for it to drain.
    pub async fn stop_dispatcher(&mut self) -> Duration {
        stop(self.dispatcher.take().expect("a dispatcher runs")).await
    }

    /// Starts the DLQ service (tests of the dispatcher alone leave it off, to read the
    /// hand-offs it would consume).
    pub async fn start_dlq(&mut self) {
        assert!(self.dlq.is_none(), "a DLQ service already runs");
        let nats = connect(&self.config).await;
        let mut registry = prometheus_client::registry::Registry::default();
        let service = herald_dlq::DeadLetterService::new(
            &self.config,
            self.pool.clone(),
            nats,
            &mut registry,
        );
        let token = ShutdownToken::new();
        let handle = tokio::spawn(service.run(token.clone()));
        self.dlq = Some((token, handle));
    }

    pub async fn stop_dlq(&mut self) -> Duration {
        stop(self.dlq.take().expect("a DLQ service runs")).await
    }

    pub async fn call(
        &self,
        method: poem::http::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, path)
            .header("Authorization", format!("Bearer {token}"));
        if let Some(body) = body {
            request = request.body_json(&body);
        }
        let response = request.send().await.0;
        let status = response.status();
        let bytes = response.into_body().into_vec().await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn ok(
        &self,
        method: poem::http::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Value {
        let (status, body) = self.call(method, path, token, body).await;
        assert!(status.is_success(), "{path}: {status} {body:#}");
        body
    }

    /// A tenant with the event type `order.created`; returns its API key.
    pub async fn tenant(&self, name: &str) -> String {
        let tenant = self
            .ok(
                poem::http::Method::POST,
                "/admin/tenants",
                ADMIN,
                Some(json!({ "name": name })),
            )
            .await;
        let key = tenant["api_key"].as_str().expect("api key").to_owned();
        self.ok(
            poem::http::Method::POST,
            "/event-types",
            &key,
            Some(json!({ "name": "order.created" })),
        )
        .await;
        key
    }

    /// Returns the webhook's id and secret.
    pub async fn webhook(&self, key: &str, url: &str) -> (String, String) {
        let body = json!({ "url": url });
        let webhook = self
            .ok(poem::http::Method::POST, "/webhooks", key, Some(body))
            .await;
        (
            webhook["id"].as_str().unwrap().to_owned(),
            webhook["secret"].as_str().unwrap().to_owned(),
        )
    }

    /// Emits `order.created`; returns the answer (`id`, `deliveries`).
    pub async fn emit(&self, key: &str, payload: Value) -> Value {
        let body = json!({ "type": "order.created", "payload": payload });
        self.ok(poem::http::Method::POST, "/events", key, Some(body))
            .await
    }

    /// Emits `order.created` as a caller in the trace `traceparent`.
    pub async fn emit_in_trace(&self, key: &str, payload: Value, traceparent: &str) -> Value {
        let body = json!({ "type": "order.created", "payload": payload });
        let response = self
            .client
            .post("/events")
            .header("Authorization", format!("Bearer {key}"))
            .header("traceparent", traceparent)
            .body_json(&body)
            .send()
            .await
            .0;
        assert!(response.status().is_success(), "{}", response.status());
        let bytes = response.into_body().into_vec().await.expect("body");
        serde_json::from_slice(&bytes).expect("a JSON answer")
    }

    pub async fn get(&self, key: &str, path: &str) -> Value {
        self.ok(poem::http::Method::GET, path, key, None).await
    }

    /// Waits until the delivery reaches `status`; returns it with its attempts.
    pub async fn wait_for(
        &self,
        key: &str,
        delivery: &str,
        status: &str,
        deadline: Duration,
    ) -> Value {
        let path = format!("/deliveries/{delivery}");
        eventually(&format!("{delivery} to be {status}"), deadline, || async {
            let body = self.get(key, &path).await;
            (body["status"] == status).then_some(body)
        })
        .await
    }

    /// The job of the test's one delivery, at its current generation.
    pub async fn only_job(&self) -> herald_domain::job::DeliveryJob {
        let row: (uuid::Uuid, uuid::Uuid, uuid::Uuid, uuid::Uuid, i32) = sqlx::query_as(
            "SELECT id, event_id, webhook_id, tenant_id, generation FROM deliveries",
        )
        .fetch_one(&self.pool)
        .await
        .expect("exactly one delivery");
        herald_domain::job::DeliveryJob {
            delivery_id: row.0,
            event_id: row.1,
            webhook_id: row.2,
            tenant_id: row.3,
            generation: row.4,
        }
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&self.pool)
            .await
            .expect("count runs")
    }

    /// Sets every tenant's concurrency quota in the database, as an operator's change would.
    pub async fn cap_concurrency(&self, limit: i32) {
        sqlx::query("UPDATE quotas SET max_concurrent_deliveries = $1")
            .bind(limit)
            .execute(&self.pool)
            .await
            .expect("quotas update");
    }

    /// Messages now stored in the dead-letters stream.
    pub async fn dead_letters(&self) -> u64 {
        self.stream_messages(&self.topology().dead_letters_stream())
            .await
    }

    /// Messages now stored in a stream.
    pub async fn stream_messages(&self, stream: &str) -> u64 {
        let mut stream = self
            .jetstream()
            .await
            .get_stream(stream)
            .await
            .expect("stream");
        stream.info().await.expect("stream info").state.messages
    }

    pub async fn jetstream(&self) -> async_nats::jetstream::Context {
        herald_runtime::jetstream::context(connect(&self.config).await)
    }

    pub fn topology(&self) -> herald_runtime::jetstream::Topology {
        herald_runtime::jetstream::Topology::new(&self.config.nats_prefix)
    }
}

async fn stop((token, handle): (ShutdownToken, JoinHandle<()>)) -> Duration {
    let started = std::time::Instant::now();
    token.cancel();
    tokio::time::timeout(Duration::from_secs(30), handle)
        .await
        .expect("the service drains within 30 s")
        .expect("the service task ends cleanly");
    started.elapsed()
}

/// A client connected by the time it is returned. The services' clients retry their first
/// connection in the background, so one just made may still be connecting: a tenant created
/// through it in that moment gets its consumer from the relay's next pass instead of at
/// once, and a test that expects the one would meet the other.
pub async fn connect(config: &Config) -> async_nats::Client {
    let client = herald_runtime::nats::connect_to(config, "test")
        .await
        .expect("NATS connects");
    until_connected(&client).await;
    client
}

/// Waits (up to 10 s) for a client made with `retry_on_initial_connect` to finish connecting.
pub async fn until_connected(client: &async_nats::Client) {
    eventually("the NATS connection", Duration::from_secs(10), || {
        let connected = herald_runtime::nats::is_connected(client);
        async move { connected.then_some(()) }
    })
    .await;
}

/// The id of the first delivery in an emit answer.
pub fn first_delivery(answer: &Value) -> String {
    answer["deliveries"][0]["id"]
        .as_str()
        .expect("a delivery")
        .to_owned()
}
