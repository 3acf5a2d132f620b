//! A scripted Kubernetes API server (the tower_test pattern of kube-rs's controller-rs): the
//! client under test gets a mock service, and every request it makes must be the next one in
//! the script: same method, same path. Each is answered as scripted, and its body recorded
//! for the test to check. A call that never comes fails after a timeout; a call beyond the
//! script is answered 500 and reported by `finish`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Method, Request, Response};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

/// How a scripted call is answered.
pub enum Reply {
    /// This status and body.
    Json(u16, Value),
    /// 200 with the request's own body (a create or replace accepted as sent).
    Echo,
    /// A Kubernetes `Status` error, e.g. 404 NotFound or 409 Conflict.
    Status(u16, &'static str),
}

pub struct Step {
    method: Method,
    path: String,
    reply: Reply,
}

pub fn step(method: Method, path: &str, reply: Reply) -> Step {
    Step {
        method,
        path: path.to_owned(),
        reply,
    }
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub body: Value,
}

pub struct ScriptedServer {
    task: tokio::task::JoinHandle<Vec<Seen>>,
    extra: Arc<Mutex<Vec<Seen>>>,
}

impl ScriptedServer {
    /// A client whose requests must follow `script`.
    pub fn start(script: Vec<Step>) -> (Client, Self) {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let extra = Arc::new(Mutex::new(Vec::new()));
        let beyond = extra.clone();
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            for step in script {
                let next = tokio::time::timeout(Duration::from_secs(10), handle.next_request());
                let Ok(Some((request, respond))) = next.await else {
                    panic!(
                        "expected {} {} never came (after {seen:#?})",
                        step.method, step.path
                    );
                };
                let request = read(request).await;
                assert_eq!(
                    (&request.method, request.path.as_str()),
                    (&step.method, step.path.as_str()),
                    "unexpected call; body {:#}",
                    request.body
                );
                let (status, body) = match step.reply {
                    Reply::Json(status, body) => (status, body),
                    Reply::Echo => (200, request.body.clone()),
                    Reply::Status(code, reason) => (code, status_body(code, reason)),
                };
                respond.send_response(answer(status, &body));
                seen.push(request);
            }
            while let Some((request, respond)) = handle.next_request().await {
                let request = read(request).await;
                beyond.lock().unwrap().push(request);
                respond.send_response(answer(500, &status_body(500, "InternalError")));
            }
            seen
        });
        (Client::new(service, "default"), Self { task, extra })
    }

    /// Every scripted request, once the client is dropped; fails on any call beyond the script.
    pub async fn finish(self, client: Client) -> Vec<Seen> {
        drop(client);
        let seen = tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the scripted server ends once its client is dropped")
            .expect("every scripted call matched");
        let extra = self.extra.lock().unwrap().clone();
        assert!(extra.is_empty(), "calls beyond the script: {extra:#?}");
        seen
    }
}

async fn read(request: Request<Body>) -> Seen {
    let (parts, body) = request.into_parts();
    let bytes = body.collect_bytes().await.expect("request body");
    Seen {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

fn answer(status: u16, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(body).expect("JSON")))
        .expect("a response")
}

fn status_body(code: u16, reason: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": format!("scripted {reason}"), "reason": reason, "code": code,
    })
}
