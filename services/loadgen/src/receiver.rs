//! The built-in receiver: answers 200 (at once, or after a fixed delay) and records when each
//! delivery arrived, keyed by the `webhook-id` header, with the event id from the body.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use poem::listener::TcpAcceptor;
use poem::web::Data;
use poem::{Body, EndpointExt, Request, Route, Server, handler};
use serde::Deserialize;

/// One request as it arrived. A redelivery of the same delivery id is a second `Arrival`.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub at: Instant,
    pub delivery_id: String,
    pub event_id: String,
}

#[derive(Clone)]
struct Shared {
    arrivals: Arc<Mutex<Vec<Arrival>>>,
    delay: Duration,
}

pub struct Receiver {
    pub addr: SocketAddr,
    arrivals: Arc<Mutex<Vec<Arrival>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Binds 127.0.0.1 on a free port and serves until dropped.
    pub async fn start(delay: Duration) -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .context("binding the receiver on loopback")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let acceptor = TcpAcceptor::from_std(listener).context("the receiver's acceptor")?;
        let arrivals = Arc::new(Mutex::new(Vec::with_capacity(1 << 16)));
        let shared = Shared {
            arrivals: arrivals.clone(),
            delay,
        };
        let app = Route::new().at("/*path", receive.data(shared));
        let server = tokio::spawn(async move {
            if let Err(error) = Server::new_with_acceptor(acceptor).run(app).await {
                eprintln!("receiver stopped: {error}");
            }
        });
        Ok(Self {
            addr,
            arrivals,
            server,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    pub fn count(&self) -> usize {
        lock(&self.arrivals).len()
    }

    pub fn arrivals(&self) -> Vec<Arrival> {
        lock(&self.arrivals).clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Deserialize)]
struct Envelope {
    id: String,
}

#[handler]
async fn receive(req: &Request, body: Body, shared: Data<&Shared>) -> &'static str {
    // Time the arrival before reading the body: the latency is Herald's, not ours.
    let at = Instant::now();
    let delivery_id = req
        .headers()
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = body.into_bytes().await.unwrap_or_default();
    let event_id = serde_json::from_slice::<Envelope>(&body)
        .map(|e| e.id)
        .unwrap_or_default();
    lock(&shared.arrivals).push(Arrival {
        at,
        delivery_id,
        event_id,
    });
    if !shared.delay.is_zero() {
        tokio::time::sleep(shared.delay).await;
    }
    "ok"
}
