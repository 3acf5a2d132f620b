use std::collections::HashMap;

use herald_runtime::Config;
use herald_test_support::{NatsServer, ScriptedDns};
use poem::EndpointExt;
use poem::endpoint::BoxEndpoint;
use poem::http::{HeaderMap, Method, StatusCode};
use poem::test::TestClient;
use serde_json::{Value, json};
use sqlx::PgPool;

pub const ADMIN_TOKEN: &str = "test-admin-token";

pub struct TestApp {
    pub client: TestClient<BoxEndpoint<'static>>,
    pub pool: PgPool,
    pub nats: Option<NatsServer>,
    config: Config,
}

/// A JSON answer.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: HeaderMap,
}

impl Reply {
    /// The `error` code of an error body.
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or_default()
    }

    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or_default()
    }

    pub fn id(&self) -> String {
        self.body["id"]
            .as_str()
            .expect("answer has an id")
            .to_owned()
    }

    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected answer: {:#}",
            self.body
        );
        self
    }
}

/// A client that has finished connecting: `nats::connect` returns at once and connects in
/// the background, and an API that sees NATS as down leaves consumers to the relay, which
/// most tests do not run.
async fn connected(url: &str, name: &str) -> async_nats::Client {
    let client = herald_runtime::nats::connect(url, name)
        .await
        .expect("NATS connects");
    herald_test_support::until_connected(&client).await;
    client
}

pub async fn spawn_app(pool: PgPool) -> TestApp {
    spawn_app_with(pool, &[]).await
}

/// With extra settings, as the process environment would give them. Host names resolve
/// through an empty scripted DNS: tests never ask a real resolver.
pub async fn spawn_app_with(pool: PgPool, settings: &[(&str, &str)]) -> TestApp {
    spawn_app_resolving(pool, settings, &ScriptedDns::default()).await
}

/// With extra settings, and host names resolved by `dns`.
pub async fn spawn_app_resolving(
    pool: PgPool,
    settings: &[(&str, &str)],
    dns: &ScriptedDns,
) -> TestApp {
    let nats = NatsServer::start().expect("nats-server starts");
    let mut vars: HashMap<String, String> = HashMap::from([
        ("HERALD_ADMIN_TOKEN".into(), ADMIN_TOKEN.into()),
        ("HERALD_API_ADDR".into(), "127.0.0.1:0".into()),
        ("NATS_URL".into(), nats.url().into()),
    ]);
    for (name, value) in settings {
        vars.insert((*name).into(), (*value).into());
    }
    let mut config =
        Config::from_lookup(|name| vars.get(name).cloned()).expect("valid test config");
    config.dns = dns.lookup();
    let client = connected(&config.nats_url, "ingest-test").await;
    let endpoint = herald_ingest::endpoint(&config, pool.clone(), client).boxed();
    TestApp {
        client: TestClient::new(endpoint),
        pool,
        nats: Some(nats),
        config,
    }
}

impl TestApp {
    /// The same service on a real loopback socket (for what depends on the client's address);
    /// its base URL, served until the handle is dropped.
    pub async fn listen(&self) -> (String, tokio::task::JoinHandle<()>) {
        let client = connected(&self.config.nats_url, "ingest-listener").await;
        let endpoint = herald_ingest::endpoint(&self.config, self.pool.clone(), client);
        let (addr, server) = herald_test_support::loopback::serve(endpoint).await;
        (format!("http://{addr}"), server)
    }

    /// A second ingest on the same database and NATS server, as another replica would be:
    /// it shares nothing in memory with this one.
    pub async fn replica(&self) -> TestApp {
        let client = connected(&self.config.nats_url, "ingest-replica").await;
        // Its own connection pool too, to the same database.
        let pool = PgPool::connect_with(self.pool.connect_options().as_ref().clone())
            .await
            .expect("the replica connects");
        let endpoint = herald_ingest::endpoint(&self.config, pool.clone(), client).boxed();
        TestApp {
            client: TestClient::new(endpoint),
            pool,
            nats: None,
            config: self.config.clone(),
        }
    }

    /// Sends a request; `auth` is the bearer token, `body` JSON.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.client.request(method, path);
        if let Some(token) = auth {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        if let Some(body) = body {
            request = request.body_json(&body);
        }
        read(request.send().await).await
    }

    /// Sends raw bytes with the given content type.
    pub async fn call_raw(
        &self,
        method: Method,
        path: &str,
        auth: &str,
        content_type: &str,
        body: Vec<u8>,
        extra: &[(&str, &str)],
    ) -> Reply {
        let mut request = self
            .client
            .request(method, path)
            .header("Authorization", format!("Bearer {auth}"))
            .content_type(content_type)
            .body(body);
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        read(request.send().await).await
    }

    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.call(method, path, Some(ADMIN_TOKEN), body).await
    }

    pub async fn get(&self, key: &str, path: &str) -> Reply {
        self.call(Method::GET, path, Some(key), None).await
    }

    pub async fn post(&self, key: &str, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(key), Some(body)).await
    }

    pub async fn patch(&self, key: &str, path: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(key), Some(body)).await
    }

    pub async fn delete(&self, key: &str, path: &str) -> Reply {
        self.call(Method::DELETE, path, Some(key), None).await
    }

    /// Creates a tenant and returns its API key.
    pub async fn tenant(&self, name: &str) -> String {
        let reply = self
            .admin(
                Method::POST,
                "/admin/tenants",
                Some(json!({ "name": name })),
            )
            .await
            .expect(201);
        reply.body["api_key"].as_str().expect("api_key").to_owned()
    }

    pub async fn event_type(&self, key: &str, name: &str) {
        self.post(key, "/event-types", json!({ "name": name }))
            .await
            .expect(201);
    }

    /// A webhook on a public address (its URL is never called in these tests).
    pub async fn webhook(&self, key: &str, event_types: &[&str]) -> String {
        self.post(
            key,
            "/webhooks",
            json!({ "url": "https://hooks.example.com/in", "event_types": event_types }),
        )
        .await
        .expect(201)
        .id()
    }

    pub async fn emit(&self, key: &str, event_type: &str, payload: Value) -> Reply {
        self.post(
            key,
            "/events",
            json!({ "type": event_type, "payload": payload }),
        )
        .await
    }

    /// A JetStream context on the app's NATS server.
    pub async fn jetstream(&self) -> async_nats::jetstream::Context {
        let client = herald_runtime::nats::connect(&self.config.nats_url, "consumer-check")
            .await
            .expect("NATS connects");
        herald_runtime::jetstream::context(client)
    }

    /// Whether the deliveries stream can be read (after a restart, JetStream recovers its
    /// streams a moment after the server listens).
    pub async fn deliveries_stream_ready(&self) -> bool {
        self.jetstream()
            .await
            .get_stream("herald_DELIVERIES")
            .await
            .is_ok()
    }

    /// The tenant consumer's `max_ack_pending`, or `None` when it (or, just after a NATS
    /// restart, its stream) cannot be found: pair with `deliveries_stream_ready` to tell the two
    /// apart.
    /// A lookup that JetStream does not answer (a busy machine) is asked again; only "not
    /// found" counts as absent.
    pub async fn consumer_cap(&self, tenant: &str) -> Option<i64> {
        use async_nats::jetstream::ErrorCode;
        use async_nats::jetstream::context::GetStreamErrorKind;
        let js = self.jetstream().await;
        let name = herald_runtime::jetstream::Topology::consumer_name(tenant);
        for _ in 0..5 {
            let stream = match js.get_stream("herald_DELIVERIES").await {
                Ok(stream) => stream,
                Err(error) => match error.kind() {
                    GetStreamErrorKind::JetStream(e)
                        if e.error_code() == ErrorCode::STREAM_NOT_FOUND =>
                    {
                        return None;
                    }
                    _ => {
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        continue;
                    }
                },
            };
            // One lookup: the consumer may be deleted at any moment (the relay does so).
            match stream
                .get_consumer::<async_nats::jetstream::consumer::pull::Config>(&name)
                .await
            {
                Ok(consumer) => return Some(consumer.cached_info().config.max_ack_pending),
                // JetStream's "consumer not found" is error code 10014.
                Err(error) if error.to_string().contains("10014") => return None,
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
            }
        }
        None
    }

    /// The outbox relay and housekeeping, as `run` starts them beside the API; they stop when
    /// the returned guard is dropped.
    pub async fn start_relay(&self) -> impl Sized + use<> {
        let client = herald_runtime::nats::connect(&self.config.nats_url, "relay")
            .await
            .expect("NATS connects");
        let token = herald_runtime::shutdown::ShutdownToken::new();
        herald_ingest::background(&self.config, self.pool.clone(), client, token.clone());
        token.drop_guard()
    }

    /// One pass of the outbox relay as a freshly started ingest runs it: the topology pass
    /// (streams and tenant consumers), then the publishing of outstanding jobs.
    pub async fn relay_pass(&self) {
        self.relay_pass_with_grace(herald_ingest::relay::GRACE)
            .await;
    }

    /// `relay_pass`, leaving to their makers only the jobs due less than `grace` ago (zero:
    /// a pass as it runs once the grace of every job stored so far is over).
    pub async fn relay_pass_with_grace(&self, grace: std::time::Duration) {
        let client = herald_runtime::nats::connect(&self.config.nats_url, "relay-test")
            .await
            .expect("NATS connects");
        let outbox = herald_runtime::outbox::Outbox::new(
            herald_runtime::jetstream::context(client),
            herald_runtime::jetstream::Topology::new(&self.config.nats_prefix),
            self.pool.clone(),
        );
        let defaults = herald_runtime::jetstream::ConsumerSettings {
            max_ack_pending: 20,
            ack_wait: self.config.ack_wait,
            max_deliver: self.config.dispatch.max_deliver,
        };
        let publisher = herald_ingest::publisher::Publisher::new(outbox, defaults);
        herald_ingest::relay::relay_once(&publisher, &self.pool, grace)
            .await
            .expect("the relay pass succeeds");
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&self.pool)
            .await
            .expect("count query runs")
    }
}

async fn read(response: poem::test::TestResponse) -> Reply {
    let response = response.0;
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().into_vec().await.expect("body reads");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    Reply {
        status,
        body,
        headers,
    }
}
