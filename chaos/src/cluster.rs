use std::net::SocketAddr;
use std::time::Duration;

use herald_test_support::process::ServiceProcess;
use herald_test_support::proxy::FaultProxy;
use herald_test_support::{NatsServer, eventually, unused_port};
use serde_json::{Value, json};

use crate::Emitter;
use sqlx::PgPool;

const ADMIN: &str = "chaos-admin";

pub struct Cluster {
    pub pool: PgPool,
    pub nats: NatsServer,
    /// Between every service and NATS.
    pub nats_proxy: FaultProxy,
    /// Between every service and PostgreSQL.
    pub pg_proxy: FaultProxy,
    pub ingest: Option<ServiceProcess>,
    pub dispatchers: Vec<ServiceProcess>,
    pub dlq: Option<ServiceProcess>,
    /// Emits events through the API; a clone goes on while the drill kills services.
    pub emitter: Emitter,
    settings: Vec<(String, String)>,
    api: String,
    http: reqwest::Client,
}

impl Cluster {
    /// Ingest, `dispatchers` dispatchers and the DLQ service, with `extra` settings, on the
    /// database (and server) of `pool`.
    pub async fn start(pool: PgPool, extra: &[(&str, &str)], dispatchers: usize) -> Self {
        let nats = NatsServer::start().expect("nats-server starts");
        let nats_addr: SocketAddr = nats
            .url()
            .trim_start_matches("nats://")
            .parse()
            .expect("NATS address");
        let nats_proxy = FaultProxy::start(nats_addr).await;
        let options = pool.connect_options();
        let pg_addr = format!("{}:{}", options.get_host(), options.get_port());
        let pg_proxy = FaultProxy::start(pg_addr.parse().expect("PostgreSQL address")).await;
        let database = pool
            .connect_options()
            .get_database()
            .expect("a test database")
            .to_owned();
        let api_port = unused_port();
        let mut settings: Vec<(String, String)> = [
            (
                "DATABASE_URL",
                format!("postgres://postgres@{}/{database}", pg_proxy.addr()),
            ),
            ("NATS_URL", format!("nats://{}", nats_proxy.addr())),
            ("HERALD_API_ADDR", format!("127.0.0.1:{api_port}")),
            ("HERALD_ADMIN_TOKEN", ADMIN.to_owned()),
            ("HERALD_ALLOW_PRIVATE_CIDRS", "127.0.0.0/8".to_owned()),
            (
                "HERALD_RETRY_SCHEDULE",
                "100ms,200ms,400ms,800ms,1600ms".to_owned(),
            ),
            ("HERALD_DELIVERY_TIMEOUT", "2s".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for (name, value) in extra {
            settings.retain(|(k, _)| k != name);
            settings.push(((*name).to_owned(), (*value).to_owned()));
        }
        let (api, http) = (
            format!("http://127.0.0.1:{api_port}"),
            reqwest::Client::new(),
        );
        let mut cluster = Self {
            pool,
            nats,
            nats_proxy,
            pg_proxy,
            ingest: None,
            dispatchers: Vec::new(),
            dlq: None,
            settings,
            emitter: Emitter {
                api: api.clone(),
                http: http.clone(),
            },
            api,
            http,
        };
        cluster.ingest = Some(cluster.spawn("ingest", None));
        cluster.wait_ready().await;
        for _ in 0..dispatchers {
            cluster.spawn_dispatcher();
        }
        cluster.spawn_dlq();
        cluster
    }

    fn spawn(&self, service: &str, health: Option<&str>) -> ServiceProcess {
        let mut settings = self.settings.clone();
        if let Some(variable) = health {
            settings.push((variable.to_owned(), format!("127.0.0.1:{}", unused_port())));
        }
        ServiceProcess::spawn(service, &settings)
    }

    pub fn spawn_dispatcher(&mut self) {
        let dispatcher = self.spawn("dispatcher", Some("HERALD_DISPATCHER_HEALTH_ADDR"));
        self.dispatchers.push(dispatcher);
    }

    pub fn spawn_dlq(&mut self) {
        self.dlq = Some(self.spawn("dlq", Some("HERALD_DLQ_HEALTH_ADDR")));
    }

    /// SIGKILLs the first dispatcher.
    pub async fn kill_dispatcher(&mut self) {
        self.dispatchers.remove(0).kill().await;
    }

    pub async fn kill_dlq(&mut self) {
        self.dlq.take().expect("a DLQ service runs").kill().await;
    }

    async fn wait_ready(&self) {
        let url = format!("{}/readyz", self.api);
        eventually("ingest to be ready", Duration::from_secs(30), || async {
            let response = self.http.get(&url).send().await.ok()?;
            response.status().is_success().then_some(())
        })
        .await;
    }

    async fn call(&self, method: reqwest::Method, path: &str, token: &str, body: Value) -> Value {
        let response = self
            .http
            .request(method, format!("{}{path}", self.api))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("the API answers");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    /// A tenant with the event type `order.created`; returns its API key.
    pub async fn tenant(&self, name: &str) -> String {
        let tenant = self
            .call(
                reqwest::Method::POST,
                "/admin/tenants",
                ADMIN,
                json!({ "name": name }),
            )
            .await;
        let key = tenant["api_key"].as_str().expect("an API key").to_owned();
        self.call(
            reqwest::Method::POST,
            "/event-types",
            &key,
            json!({ "name": "order.created" }),
        )
        .await;
        key
    }

    pub async fn webhook(&self, key: &str, url: &str) -> String {
        let webhook = self
            .call(
                reqwest::Method::POST,
                "/webhooks",
                key,
                json!({ "url": url }),
            )
            .await;
        webhook["id"].as_str().expect("a webhook id").to_owned()
    }

    /// Sets quota fields of the tenant (a partial update, as the admin does).
    pub async fn set_quotas(&self, tenant: &str, quotas: Value) {
        let path = format!("/admin/tenants/{tenant}/quotas");
        self.call(reqwest::Method::PUT, &path, ADMIN, quotas).await;
    }

    /// A tenant's `GET /quotas` answer.
    pub async fn quotas(&self, tenant: &str, key: &str) -> Value {
        let response = self
            .http
            .get(format!("{}/quotas/{tenant}", self.api))
            .bearer_auth(key)
            .send()
            .await
            .expect("the API answers");
        response.json().await.expect("a JSON answer")
    }
}
